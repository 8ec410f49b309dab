// Turning outputs into a funded PSBT: the outputs checked (address of this network, no dust as Core's relay policy
// computes it), coins chosen by coinselect (bitcoinjs/coinselect: blackjack, then accumulative) with sizes of our
// input and output types, change to the change chain, the fee checked against wallet.maxtxfee, and the PSBT built
// with each input's witness UTXO and BIP32 origin (tap origin for P2TR), so the HSM and any other signer know the
// key. Anti-fee-sniping locktime and BIP125 signalling as Core's wallet does.

import coinSelect from 'coinselect';
import accumulative from 'coinselect/accumulative.js';
import * as bitcoin from 'bitcoinjs-lib';
import { rpcError } from '../core/errors.js';
import type { Coin } from './ledger.js';
import type { AddressType, Derived } from './keys.js';
import { outputFields, type WatchDerived } from './watchonly.js';

/** Virtual sizes coinselect adds per input and output (TX_INPUT_BASE 41 + script, TX_OUTPUT_BASE 9 + script). */
const INPUT_EXTRA: Record<AddressType, number> = { wpkh: 27, tr: 17 }; // 68 and 58 vB inputs
const sized = (n: number): { length: number } => ({ length: n });
/** What coinselect adds for an input of this coin: a watched one's size is its descriptor's (a 2-of-2 wsh is ~105 vB). */
const inputExtra = (c: Coin): number => (c.input_vsize !== undefined ? c.input_vsize - 41 : INPUT_EXTRA[c.type as AddressType]);

/** Core's dust threshold at the default dust relay fee (3 sat/vB): the cost of creating and spending the output. */
export function dustThreshold(script: Buffer): number {
  const outputSize = 8 + 1 + script.length;
  const witness = script.length >= 4 && script.length <= 42 && (script[0] === 0 || (script[0]! >= 0x51 && script[0]! <= 0x60));
  return 3 * (outputSize + (witness ? 67 : 148));
}

/**
 * The virtual size of a transaction of ours spending `inputs` to outputs with scripts of these lengths, as the coin
 * choice counts it (rounded up: a P2WPKH input is 68 vB, a P2TR key-path input 58 vB, an output 9 vB + script).
 */
export function estimateVsize(inputs: Coin[], outputScriptLengths: number[]): number {
  return 10 + inputs.reduce((s, c) => s + 41 + inputExtra(c), 0) + outputScriptLengths.reduce((s, n) => s + 9 + n, 0) + 1;
}

export interface Recipient {
  address: string;
  amount_sat: number;
}

export interface FundRequest {
  outputs: Recipient[];
  /** sat/vB. */
  feeRate: number;
  /** Indexes of outputs that pay the fee (split equally), as Core's subtractfeefromoutputs. */
  subtractFrom: number[];
  replaceable: boolean;
  /** The coins that may be used, best first; with `only`, every one of them is used and no other. */
  candidates: Coin[];
  only: boolean;
  maxFee: number;
  tipHeight: number;
}

/** A watch-only PSBT's change: to an imported internal descriptor, its key origins written by the library. */
export interface WatchChange {
  script: Buffer;
  output: WatchDerived['output'];
}

export interface Funded {
  psbt: bitcoin.Psbt;
  inputs: Coin[];
  fee_sat: number;
  /** The change output's index, or -1. */
  change_pos: number;
}

export function checkOutputs(outputs: Recipient[], network: bitcoin.Network): Buffer[] {
  return outputs.map((o, i) => {
    let script: Buffer;
    try {
      script = Buffer.from(bitcoin.address.toOutputScript(o.address, network));
    } catch {
      throw rpcError('InvalidParams', `outputs[${i}]: '${o.address.slice(0, 100)}' is not a valid address of this network`);
    }
    const dust = dustThreshold(script);
    if (o.amount_sat < dust) throw rpcError('InvalidParams', `outputs[${i}]: ${o.amount_sat} sat is dust for this address (the least is ${dust} sat)`);
    return script;
  });
}

/** What the coin choice settled: the inputs, the outputs' amounts (after a fee taken from them), change and fee. */
export interface Selection {
  inputs: Coin[];
  scripts: Buffer[];
  amounts: number[];
  change_sat: number;
  fee_sat: number;
}

/** Chooses the coins and settles amounts, change and fee. */
export function select(req: FundRequest, network: bitcoin.Network): Selection {
  const scripts = checkOutputs(req.outputs, network);
  const rate = Math.max(1, Math.ceil(req.feeRate));
  const utxos = req.candidates.map((c) => ({ value: c.value_sat, script: sized(inputExtra(c)), coin: c }));
  const subtract = req.subtractFrom.length > 0;
  const targets = req.outputs.map((o, i) => ({ value: o.amount_sat, script: sized(scripts[i]!.length) }));
  // With the fee taken from the outputs, the coins need only cover the amounts: choose at a zero rate, then size.
  const pick = req.only ? accumulative : coinSelect;
  const chosen = pick(utxos, targets, subtract ? 0 : rate);
  const total = req.candidates.reduce((s, c) => s + c.value_sat, 0);
  const want = req.outputs.reduce((s, o) => s + o.amount_sat, 0);
  if (!chosen.inputs || !chosen.outputs) {
    throw rpcError(
      'InvalidParams',
      `insufficient funds: ${want} sat to send at ${rate} sat/vB, ${total} sat available${req.only ? ' in the given inputs' : ''}`,
      {
        available_sat: total,
        amount_sat: want,
      },
    );
  }
  let inputs = chosen.inputs.map((u) => u.coin as Coin);
  if (req.only) inputs = req.candidates; // the given inputs, all of them
  const inSum = inputs.reduce((s, c) => s + c.value_sat, 0);
  const amounts = req.outputs.map((o) => o.amount_sat);
  const vsizeOf = (withChange: boolean): number => estimateVsize(inputs, [...scripts.map((sc) => sc.length), ...(withChange ? [22] : [])]);
  let fee: number;
  let changeValue: number;
  if (subtract) {
    changeValue = inSum - want;
    const withChange = changeValue >= 294;
    fee = Math.ceil(vsizeOf(withChange) * req.feeRate);
    if (!withChange) {
      fee += changeValue;
      changeValue = 0;
    }
    const share = Math.floor(fee / req.subtractFrom.length);
    req.subtractFrom.forEach((i, k) => {
      amounts[i] = amounts[i]! - share - (k === 0 ? fee - share * req.subtractFrom.length : 0);
      const dust = dustThreshold(scripts[i]!);
      if (amounts[i]! < dust)
        throw rpcError('InvalidParams', `outputs[${i}]: after its share of the ${fee} sat fee, ${amounts[i]} sat is dust (the least is ${dust} sat)`);
    });
  } else {
    const withChange = inSum - want - Math.ceil(vsizeOf(true) * req.feeRate) >= 294;
    fee = Math.ceil(vsizeOf(withChange) * req.feeRate);
    changeValue = withChange ? inSum - want - fee : 0;
    if (!withChange) fee = inSum - want;
    if (fee < 0) throw rpcError('InvalidParams', `insufficient funds: the inputs give ${inSum} sat for ${want} sat and a fee`);
  }
  if (fee > req.maxFee)
    throw rpcError('PolicyDenied', `the fee ${fee} sat is over wallet.maxtxfee (${req.maxFee} sat)`, { rule: 'maxtxfee', fee_sat: fee, max_sat: req.maxFee });
  return { inputs, scripts, amounts, change_sat: changeValue, fee_sat: fee };
}

/**
 * The descriptor library writes key paths as the descriptor spells them (84h/1h/0h), and bitcoinjs's PSBT encoder
 * reads only ' as hardened (BIP32 paths in a PSBT are uint32s: 84h would go out as 84, a path no signer derives):
 * written back with ' before the PSBT is serialized.
 */
function apostrophePaths(slot: { bip32Derivation?: Array<{ path: string }>; tapBip32Derivation?: Array<{ path: string }> }): void {
  for (const x of [...(slot.bip32Derivation ?? []), ...(slot.tapBip32Derivation ?? [])]) x.path = x.path.replace(/[hH]/g, "'");
}

/**
 * The PSBT of a selection. A P2WPKH input carries its previous transaction too (`prevTx`): a segwit v0 signature
 * does not commit to the amounts of the other inputs, so a signer checks them there (CVE-2020-14199).
 */
export function buildPsbt(
  sel: Selection,
  req: { replaceable: boolean; tipHeight: number },
  network: bitcoin.Network,
  keys: {
    change: () => Derived | WatchChange;
    origin: (c: Coin) => Derived;
    fingerprint: Buffer;
    prevTx: (txid: string) => Buffer | undefined;
    /** A watch-only coin's output descriptor (its key holders sign the PSBT elsewhere). */
    watched?: (c: Coin) => WatchDerived['output'];
  },
): Funded {
  const { inputs, scripts, amounts } = sel;
  const { change, origin, fingerprint } = keys;
  const changeValue = sel.change_sat;
  const psbt = new bitcoin.Psbt({ network });
  psbt.setVersion(2);
  psbt.setLocktime(req.tipHeight); // anti-fee-sniping, as Core's wallet
  const sequence = req.replaceable ? 0xfffffffd : 0xfffffffe;
  for (const c of inputs) {
    if (c.watch !== undefined) {
      // The library writes what the key holders need: witness UTXO (and the previous transaction when known),
      // witness script for wsh, and every key's origin (bip32Derivation).
      const prev = keys.prevTx(c.txid);
      keys.watched!(c).updatePsbtAsInput({ psbt, vout: c.vout, value: BigInt(c.value_sat), ...(prev ? { txHex: prev.toString('hex') } : { txId: c.txid }) });
      psbt.setInputSequence(psbt.inputCount - 1, sequence);
      apostrophePaths(psbt.data.inputs[psbt.inputCount - 1]!);
      continue;
    }
    const d = origin(c);
    const base = { hash: c.txid, index: c.vout, sequence, witnessUtxo: { script: Buffer.from(c.script, 'hex'), value: BigInt(c.value_sat) } };
    const prev = c.type === 'wpkh' ? keys.prevTx(c.txid) : undefined;
    if (c.type === 'wpkh')
      psbt.addInput({
        ...base,
        ...(prev ? { nonWitnessUtxo: prev } : {}),
        bip32Derivation: [{ masterFingerprint: fingerprint, pubkey: d.pubkey, path: d.path }],
      });
    else {
      const x = d.pubkey.subarray(1);
      psbt.addInput({ ...base, tapInternalKey: x, tapBip32Derivation: [{ masterFingerprint: fingerprint, pubkey: x, path: d.path, leafHashes: [] }] });
    }
  }
  scripts.forEach((script, i) => psbt.addOutput({ script, value: BigInt(amounts[i]!) }));
  let changePos = -1;
  if (changeValue > 0) {
    const d = change();
    changePos = psbt.txOutputs.length;
    if ('output' in d) psbt.addOutput({ script: d.script, value: BigInt(changeValue), ...outputFields(d.output) });
    else
      psbt.addOutput({ script: d.script, value: BigInt(changeValue), bip32Derivation: [{ masterFingerprint: fingerprint, pubkey: d.pubkey, path: d.path }] });
  }
  psbt.setLocktime(req.tipHeight); // the descriptor library may set it while adding an input
  return { psbt, inputs, fee_sat: sel.fee_sat, change_pos: changePos };
}

/** Coins worth `amount` and the fee of spending them at `rate` into one P2WSH output (another room's funding). */
export function pickCoins(candidates: Coin[], amount: number, rate: number): Coin[] | undefined {
  const utxos = candidates.map((c) => ({ value: c.value_sat, script: sized(inputExtra(c)), coin: c }));
  const chosen = coinSelect(utxos, [{ value: amount, script: sized(34) }], Math.max(1, Math.ceil(rate)));
  return chosen.inputs?.map((u) => u.coin as Coin);
}
