// chain.createpsbt and chain.finalizepsbt: Bitcoin Core's createpsbt + utxoupdatepsbt and finalizepsbt, so a PSBT
// can be made, signed by the HSM room (hsm.signpsbt) and broadcast without a wallet. Inputs are filled from the
// node's copy of their transactions, which is what lets the signer verify amounts instead of trusting them.

import type { Static } from '@sinclair/typebox';
import * as bitcoin from 'bitcoinjs-lib';
import { rpcError } from '../../core/errors.js';
import type { chainCreatepsbt, chainFinalizepsbt } from './declarations.js';

/** Bitcoin Core's gettxout answer (the fields used). */
interface TxOut {
  confirmations: number;
  coinbase: boolean;
}
type NodeCall = <T>(method: string, ...params: unknown[]) => Promise<T>;

const COINBASE_MATURITY = 100;
const SEQUENCE_RBF = 0xfffffffd;
const SEQUENCE_FINAL = 0xffffffff;

/** A witness program (BIP141: a version opcode and one push of 2 to 40 bytes): its input is signed as segwit. */
function isWitnessProgram(script: Uint8Array): boolean {
  const v = script[0]!;
  return script.length >= 4 && script.length <= 42 && (v === 0 || (v >= 0x51 && v <= 0x60)) && script[1] === script.length - 2;
}

export async function createPsbt(
  p: Static<(typeof chainCreatepsbt)['params']>,
  network: bitcoin.Network,
  call: NodeCall,
): Promise<Static<(typeof chainCreatepsbt)['result']>> {
  // The outputs first: a wrong address costs no node call.
  const scripts = p.outputs.map((o, i) => {
    try {
      return bitcoin.address.toOutputScript(o.address, network);
    } catch {
      throw rpcError('InvalidParams', `outputs[${i}].address ${o.address} is not an address of this network (${network.bech32})`);
    }
  });
  const psbt = new bitcoin.Psbt({ network });
  psbt.setLocktime(p.locktime);
  const seen = new Set<string>();
  let inputsSat = 0n;
  for (const [i, input] of p.inputs.entries()) {
    const txid = input.txid.toLowerCase();
    const outpoint = `${txid}:${input.vout}`;
    if (seen.has(outpoint)) throw rpcError('InvalidParams', `inputs[${i}] spends ${outpoint} again`);
    seen.add(outpoint);
    const coin = await call<TxOut | null>('gettxout', txid, input.vout, true);
    if (!coin) throw rpcError('NotFound', `inputs[${i}] ${outpoint} is spent or does not exist (the node's gettxout, mempool included)`, { input: i });
    if (coin.coinbase && coin.confirmations < COINBASE_MATURITY)
      throw rpcError(
        'InvalidParams',
        `inputs[${i}] ${outpoint} is a coinbase output with ${coin.confirmations} confirmation(s); it can be spent from ${COINBASE_MATURITY}`,
      );
    const hex = await call<string>('getrawtransaction', txid, false);
    const prev = bitcoin.Transaction.fromHex(hex);
    if (prev.getId() !== txid) throw rpcError('InternalError', `the node answered another transaction for ${txid}`);
    const spent = prev.outs[input.vout];
    if (!spent) throw rpcError('NotFound', `inputs[${i}]: ${txid} has no output ${input.vout}`, { input: i });
    inputsSat += BigInt(spent.value);
    psbt.addInput({
      hash: txid,
      index: input.vout,
      sequence: input.sequence ?? (p.replaceable ? SEQUENCE_RBF : SEQUENCE_FINAL),
      nonWitnessUtxo: Buffer.from(hex, 'hex'),
      // As utxoupdatepsbt: the witness_utxo only where the output is known to be spent by a witness.
      ...(isWitnessProgram(spent.script) ? { witnessUtxo: { script: spent.script, value: BigInt(spent.value) } } : {}),
    });
  }
  let outputsSat = 0n;
  for (const [i, o] of p.outputs.entries()) {
    outputsSat += BigInt(o.amount_sat);
    psbt.addOutput({ script: scripts[i]!, value: BigInt(o.amount_sat) });
  }
  if (outputsSat > inputsSat)
    throw rpcError('InvalidParams', `the outputs add up to ${outputsSat} sat, more than the inputs' ${inputsSat} sat`, {
      inputs_sat: Number(inputsSat),
      outputs_sat: Number(outputsSat),
    });
  return { psbt: psbt.toBase64(), inputs_sat: Number(inputsSat), outputs_sat: Number(outputsSat), fee_sat: Number(inputsSat - outputsSat) };
}

let eccReady = false;

export async function finalizePsbt(base64: string, network: bitcoin.Network): Promise<Static<(typeof chainFinalizepsbt)['result']>> {
  if (!eccReady) {
    // Taproot inputs need an elliptic-curve library to finalize; loaded on first use only.
    const ecc = await import('@bitcoinerlab/secp256k1');
    // A CommonJS module: its exports are the namespace's default where a bundler wraps it.
    bitcoin.initEccLib(((ecc as { default?: unknown }).default ?? ecc) as typeof ecc);
    eccReady = true;
  }
  let psbt: bitcoin.Psbt;
  try {
    psbt = bitcoin.Psbt.fromBase64(base64, { network });
  } catch (err) {
    throw rpcError('InvalidParams', `psbt is not a valid PSBT: ${(err as Error).message}`);
  }
  const incomplete: number[] = [];
  psbt.data.inputs.forEach((input, i) => {
    if (input.finalScriptSig || input.finalScriptWitness) return;
    try {
      psbt.finalizeInput(i);
    } catch {
      incomplete.push(i);
    }
  });
  if (incomplete.length > 0) return { complete: false, psbt: psbt.toBase64(), incomplete_inputs: incomplete };
  // No fee-rate check here (bitcoinjs refuses above 5000 sat/vB by default): the node's maxfeerate judges at broadcast,
  // as with Core's finalizepsbt.
  const tx = psbt.extractTransaction(true);
  return { complete: true, psbt: psbt.toBase64(), hex: tx.toHex(), txid: tx.getId(), incomplete_inputs: [] };
}
