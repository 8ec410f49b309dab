// A contract's funding: the coins (each reserved to one contract, checked and written under the 'utxos' lock), the
// counterparty's funding inputs and witnesses checked (dlcspecs Protocol.md; BIP 66, 146, 340), this side's inputs
// signed through the HSM room's PSBT path (so the collateral counts against the signing policy), and what the
// node knows of the funding transaction (confirmations, the funding output unspent).

import { secp256k1 } from '@noble/curves/secp256k1.js';
import * as bitcoin from 'bitcoinjs-lib';
import { rpcError } from '../../core/errors.js';
import type { BatchOp } from '../../core/store.js';
import type { ContractSigning } from '../../hsm/api.js';
import { bip32DerivationOf, type WalletInput } from '../../wallet/api.js';
import type { FundingInput } from './messages.js';
import { checkDerLowS, checkFundingInput, checkTaprootKeySpend, checkWitnessLen, type FundingKind } from './rules.js';
import type { DlcFunding } from './transactions.js';
import { parts } from './contracts.js';
import { hex, rule, SIGHASH_ALL, u64, type ContractRecord, type DlcContext } from './context.js';

type Outpoints = Array<{ txid: string; vout: number }>;

/** A funding input's outpoint, "txid:vout" (its prev_tx's id). */
export const inputOutpoint = (i: FundingInput): string => `${bitcoin.Transaction.fromHex(i.prev_tx).getId()}:${i.prev_tx_vout}`;
/** A transaction input's outpoint, "txid:vout" (the hash is stored reversed). */
const txinOutpoint = (x: { hash: Uint8Array; index: number }): string => `${hex(Buffer.from(x.hash).reverse())}:${x.index}`;

/** A P2WPKH input's witness: count, a signature of up to 72 bytes with its sighash byte, a 33-byte key. */
export const P2WPKH_MAX_WITNESS = 108;

/** A witness stack from its serialization (count, then each element with its length, all compact sizes). */
function witnessStack(serialized: Uint8Array): string[] {
  const r = { at: 0 };
  const varint = (): number => {
    const first = serialized[r.at++]!;
    if (first < 0xfd) return first;
    const n = first === 0xfd ? 2 : 4;
    let v = 0;
    for (let i = 0; i < n; i++) v += serialized[r.at + i]! * 2 ** (8 * i);
    r.at += n;
    return v;
  };
  const count = varint();
  return Array.from({ length: count }, () => {
    const len = varint();
    const e = serialized.subarray(r.at, r.at + len);
    r.at += len;
    return hex(e);
  });
}

/** The party's funding inputs from its UTXOs: unspent, P2WPKH, their previous transactions from the node. */
export async function fundingInputs(ctx: DlcContext, utxos: Outpoints): Promise<FundingInput[]> {
  const seen = new Set<string>();
  const out: FundingInput[] = [];
  for (const [i, u] of utxos.entries()) {
    const op = `${u.txid}:${u.vout}`;
    if (seen.has(op)) throw rpcError('InvalidParams', `utxos[${i}] ${op} is listed twice`);
    seen.add(op);
    if (!(await ctx.chain.utxo(u.txid, u.vout))) throw rpcError('NotFound', `utxos[${i}] ${op} is spent or does not exist`);
    // Unspent, so the node has it (its mempool or chain, txindex or not).
    const prevHex = (await ctx.chain.transaction(u.txid))?.hex;
    if (!prevHex) throw rpcError('NotFound', `utxos[${i}]: the node does not give transaction ${u.txid} (a confirmed one needs bitcoind's txindex)`);
    const prev = bitcoin.Transaction.fromHex(prevHex);
    const spent = prev.outs[u.vout];
    if (!spent) throw rpcError('NotFound', `utxos[${i}]: ${u.txid} has no output ${u.vout}`);
    if (!(spent.script.length === 22 && spent.script[0] === 0 && spent.script[1] === 20))
      throw rpcError('InvalidParams', `utxos[${i}] ${op} is not a P2WPKH output (the funding inputs anyad signs are P2WPKH keystore outputs)`);
    out.push({
      input_serial_id: u64(),
      prev_tx: prevHex,
      prev_tx_vout: u.vout,
      sequence: 0xffffffff,
      max_witness_len: P2WPKH_MAX_WITNESS,
      redeem_script: '',
    });
  }
  return out;
}

/**
 * A coin committed to one open contract is refused to another (under the 'utxos' lock, checked and written with
 * the contract): two contracts funded by one coin would leave one of them unfundable after both were signed.
 */
export async function reserve(ctx: DlcContext, id: string, utxos: Outpoints): Promise<BatchOp[]> {
  const ops: BatchOp[] = [];
  for (const [i, u] of utxos.entries()) {
    const key = `u:${u.txid.toLowerCase()}:${u.vout}`;
    const holder = (await ctx.db.get(key)) as string | undefined;
    if (holder !== undefined && holder !== id)
      throw rpcError('Conflict', `utxos[${i}] ${u.txid}:${u.vout} funds contract ${holder} already (dlc.cancel releases an unsigned one)`, {
        contract: holder,
      });
    ops.push({ type: 'put', sublevel: ctx.db, key, value: id });
  }
  return ops;
}

/**
 * The counterparty's funding inputs (dlcspecs Protocol.md): each segwit (rules.ts checkFundingInput), each outpoint
 * once in the whole funding transaction and none a coin of ours, each unspent on chain (or in the mempool) with
 * the value and script its prev_tx claims: a prev_tx that is not on chain makes a funding transaction that never
 * confirms, with our collateral signed into it. The sums are checked when the funding transaction is built (each
 * party's inputs cover its collateral, its fees and a change output over the dust limit).
 */
export async function checkTheirInputs(ctx: DlcContext, inputs: FundingInput[], who: string, ourInputs: FundingInput[]): Promise<FundingKind[]> {
  if (inputs.length === 0) throw rpcError('InvalidParams', `the ${who} names no funding input`);
  const seen = new Set(ourInputs.map(inputOutpoint));
  const kinds: FundingKind[] = [];
  for (const [k, i] of inputs.entries()) {
    const what = `the ${who}'s funding input ${k + 1}`;
    const f = rule(() => checkFundingInput(i, what));
    const op = `${f.txid}:${i.prev_tx_vout}`;
    if (seen.has(op)) throw rpcError('InvalidParams', `${what} ${op} is spent twice in the funding transaction`);
    seen.add(op);
    if ((await ctx.db.get(`u:${f.txid}:${i.prev_tx_vout}`)) !== undefined)
      throw rpcError('InvalidParams', `${what} ${op} is a coin of ours (reserved for a contract): not the ${who}'s to give`);
    const utxo = await ctx.chain.utxo(f.txid, i.prev_tx_vout);
    if (!utxo) throw rpcError('InvalidParams', `${what} ${op} is spent or not on chain: the funding transaction could never confirm`);
    const value = BigInt(utxo.value_sat);
    if (value !== f.value || utxo.script !== f.script.toString('hex'))
      throw rpcError('InvalidParams', `${what} ${op}: the chain holds ${value} sat to ${utxo.script}, not what its prev_tx says`);
    kinds.push(f.kind);
  }
  return kinds;
}

/**
 * A PSBT of the funding transaction with every input's previous transaction, for the HSM to sign its own: a
 * keystore key's by its script, a wallet coin's by the key origin (bip32Derivation) the wallet gave for it.
 */
export function fundingPsbt(ctx: DlcContext, t: DlcFunding, inputs: FundingInput[], walletInputs: WalletInput[] = []): bitcoin.Psbt {
  const origins = new Map(walletInputs.map((o) => [o.outpoint, o]));
  const psbt = new bitcoin.Psbt({ network: ctx.net });
  psbt.setVersion(2);
  psbt.setLocktime(t.funding.locktime);
  const byOutpoint = new Map(inputs.map((i) => [inputOutpoint(i), i]));
  for (const txin of t.funding.ins) {
    const i = byOutpoint.get(txinOutpoint(txin))!;
    const prev = bitcoin.Transaction.fromHex(i.prev_tx);
    psbt.addInput({
      hash: Buffer.from(txin.hash),
      index: txin.index,
      sequence: txin.sequence,
      nonWitnessUtxo: Buffer.from(i.prev_tx, 'hex'),
      witnessUtxo: { script: prev.outs[txin.index]!.script, value: BigInt(prev.outs[txin.index]!.value) },
    });
    const origin = origins.get(txinOutpoint(txin));
    if (origin) psbt.updateInput(psbt.inputCount - 1, { bip32Derivation: bip32DerivationOf(origin) });
  }
  for (const o of t.funding.outs) psbt.addOutput({ script: o.script, value: BigInt(o.value) });
  return psbt;
}

/** Signs this party's funding inputs through the HSM; answers their witness stacks in input_serial_id order. */
export async function signFunding(
  ctx: DlcContext,
  t: DlcFunding,
  all: FundingInput[],
  own: FundingInput[],
  caller: string,
  signing: ContractSigning,
  walletInputs?: WalletInput[],
): Promise<{ psbt: bitcoin.Psbt; stacks: string[][] }> {
  const unsigned = fundingPsbt(ctx, t, all, walletInputs);
  const signed = await ctx.hsm.signPsbt(unsigned.toBase64(), caller, signing);
  const psbt = bitcoin.Psbt.fromBase64(signed.psbt, { network: ctx.net });
  const ownOutpoints = new Set(own.map(inputOutpoint));
  const stacks: Array<{ serial: bigint; stack: string[] }> = [];
  t.funding.ins.forEach((txin, idx) => {
    const op = txinOutpoint(txin);
    if (!ownOutpoints.has(op)) return;
    if (!signed.signed.includes(idx)) throw rpcError('PolicyDenied', `the HSM did not sign funding input ${op}: is it an output of a keystore key?`);
    psbt.finalizeInput(idx);
    const serial = own.find((i) => inputOutpoint(i) === op)!.input_serial_id;
    stacks.push({ serial, stack: witnessStack(psbt.data.inputs[idx]!.finalScriptWitness!) });
  });
  return { psbt, stacks: stacks.sort((a, b) => (a.serial < b.serial ? -1 : 1)).map((s) => s.stack) };
}

/**
 * The offerer's funding witnesses in sign_dlc: one stack per input of its, in input_serial_id order, each fit for
 * its kind of output; every signature strict DER, SIGHASH_ALL, low S (BIP 66, BIP 146); a P2WPKH input's (native
 * or wrapped) verified against its key and the funding transaction, a P2TR key-path one (BIP 340) against the
 * output key; no witness larger than its input's max_witness_len. What a P2WSH script needs is not known here:
 * its stack's DER signatures are held to the same encoding rules, the node checks the rest.
 */
export function checkFundingWitnesses(f: DlcFunding, all: FundingInput[], theirs: FundingInput[], stacks: string[][]): void {
  if (stacks.length !== theirs.length) throw rpcError('InvalidParams', `the offerer sent ${stacks.length} funding witnesses for ${theirs.length} inputs`);
  const sorted = [...theirs].sort((a, b) => (a.input_serial_id < b.input_serial_id ? -1 : 1));
  const index = new Map(f.funding.ins.map((x, idx) => [txinOutpoint(x), idx]));
  const prevouts = f.funding.ins.map((x) => {
    const i = all.find((a) => inputOutpoint(a) === txinOutpoint(x))!;
    const out = bitcoin.Transaction.fromHex(i.prev_tx).outs[i.prev_tx_vout]!;
    return { script: Buffer.from(out.script), value: BigInt(out.value) };
  });
  sorted.forEach((inp, k) => {
    const what = `the offerer's funding witness ${k + 1}`;
    const stack = stacks[k]!.map((e) => Buffer.from(e, 'hex'));
    const { kind } = rule(() => checkFundingInput(inp, what));
    const idx = index.get(inputOutpoint(inp))!;
    if (kind === 'p2wpkh' || kind === 'p2sh-p2wpkh') {
      if (stack.length !== 2 || stack[1]!.length !== 33) throw rpcError('InvalidParams', `${what}: a P2WPKH witness is a signature and a 33-byte key`);
      rule(() => checkDerLowS(stack[0]!, `${what}'s signature`));
      const program = kind === 'p2wpkh' ? prevouts[idx]!.script.subarray(2) : Buffer.from(inp.redeem_script, 'hex').subarray(2);
      if (!Buffer.from(bitcoin.crypto.hash160(stack[1]!)).equals(program)) throw rpcError('InvalidParams', `${what}: its key is not the one the output pays`);
      const scriptCode = bitcoin.payments.p2pkh({ hash: Buffer.from(program) }).output!;
      const digest = f.funding.hashForWitnessV0(idx, Buffer.from(scriptCode), prevouts[idx]!.value, SIGHASH_ALL);
      const sig = bitcoin.script.signature.decode(stack[0]!).signature;
      if (!secp256k1.verify(sig, digest, stack[1]!, { prehash: false, lowS: true }))
        throw rpcError('InvalidParams', `${what}: the signature does not verify for the funding transaction`);
    } else if (kind === 'p2tr') {
      const sighash = (hashType: number): Uint8Array =>
        f.funding.hashForWitnessV1(
          idx,
          prevouts.map((p) => p.script),
          prevouts.map((p) => p.value),
          hashType,
        );
      rule(() => checkTaprootKeySpend(stack, prevouts[idx]!.script.subarray(2), sighash, what));
    } else {
      if (stack.length < 2) throw rpcError('InvalidParams', `${what}: a P2WSH witness ends with its script`);
      stack.slice(0, -1).forEach((e, j) => {
        if (e.length >= 9 && e.length <= 73 && e[0] === 0x30) rule(() => checkDerLowS(e, `${what} element ${j + 1}`));
      });
    }
    // After the kind's own checks (which name a malformed signature first): no larger than the input declared.
    rule(() => checkWitnessLen(stack, inp.max_witness_len, what));
  });
}

/**
 * Confirmations of a transaction: from gettxout on one of its outputs while unspent (what a node without
 * txindex can answer; 0 in the mempool), else getrawtransaction (a txindex or the mempool), else undefined.
 */
export async function confirmations(ctx: DlcContext, txid: string, vout: number): Promise<number | undefined> {
  const out = await ctx.chain.utxo(txid, vout).catch(() => null);
  if (out) return out.confirmations;
  // Not known to the node (yet), or spent and no txindex: undefined; the block scan of following.ts sees spends.
  return (await ctx.chain.transaction(txid).catch(() => undefined))?.confirmations;
}

/** Whether the node knows the funding transaction: in its mempool or on chain (its output unspent, or by txindex). */
export async function fundingSeen(ctx: DlcContext, rec: ContractRecord): Promise<boolean> {
  if (!rec.funding_txid) return false;
  return (await confirmations(ctx, rec.funding_txid, (await parts(ctx, rec)).t.fundOutputIndex)) !== undefined;
}

/** Whether the funding output is unspent, the node's mempool included. */
export async function fundingUnspent(ctx: DlcContext, rec: ContractRecord): Promise<boolean> {
  return (await ctx.chain.utxo(rec.funding_txid!, (await parts(ctx, rec)).t.fundOutputIndex)) !== null;
}

/**
 * The funding transaction with every witness: this side's from the HSM's signed PSBT, the offerer's from sign_dlc
 * (one stack per offerer input, in input_serial_id order, checked by checkFundingWitnesses).
 */
export function witnessedFunding(f: DlcFunding, psbt: bitcoin.Psbt, offerInputs: FundingInput[], offerStacks: string[][]): bitcoin.Transaction {
  const tx = f.funding.clone();
  psbt.data.inputs.forEach((input, idx) => {
    if (input.finalScriptWitness)
      tx.setWitness(
        idx,
        witnessStack(input.finalScriptWitness).map((e) => Buffer.from(e, 'hex')),
      );
  });
  const sorted = [...offerInputs].sort((a, b) => (a.input_serial_id < b.input_serial_id ? -1 : 1));
  sorted.forEach((inp, k) => {
    const op = inputOutpoint(inp);
    tx.setWitness(
      tx.ins.findIndex((x) => txinOutpoint(x) === op),
      offerStacks[k]!.map((e) => Buffer.from(e, 'hex')),
    );
  });
  return tx;
}
