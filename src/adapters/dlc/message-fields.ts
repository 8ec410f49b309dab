// The fields every DLC message shares, as the dlcspecs test vectors and rust-dlc serialize them: the message types and
// protocol version, the limits a contract is read under (config keys dlc.max*), the reader's refusals, scripts as
// u16-prefixed bytes, funding inputs and adaptor signature lists. The messages themselves are in messages.ts
// (offer_dlc, accept_dlc, sign_dlc), contract-info.ts (the contract_info field) and close-message.ts (close_dlc).

import { NumericError } from './numeric.js';
import { OracleError } from './oracle.js';
import { Reader, WireError, Writer } from './wire.js';

export const MSG = { offer: 42778, accept: 42780, sign: 42782, close: 52170 } as const;
export const PROTOCOL_VERSION = 1;

export class MessageError extends Error {
  override name = 'MessageError';
}

export interface FundingInput {
  input_serial_id: bigint;
  prev_tx: string;
  prev_tx_vout: number;
  sequence: number;
  max_witness_len: number;
  redeem_script: string;
}

/** The most oracles one contract names (C(20,10) = 184,756 adaptor signatures per outcome already). */
export const MAX_ORACLES = 20;

/**
 * What one contract may ask of this node, checked while its offer is read and before any heavy work (a numeric
 * payout curve's evaluation at every outcome, the CETs, the adaptor points): config keys dlc.maxoutcomes,
 * dlc.maxcets, dlc.maxpayoutpoints, dlc.maxoracles, dlc.maxoraclecombinations.
 */
export interface DlcLimits {
  /** Enumerated outcomes, or base^digits values a numeric event can take (each one evaluated on the payout curve). */
  maxOutcomes: number;
  /** CETs times oracle combinations: the adaptor signatures one contract makes and checks. */
  maxCets: number;
  /** Interpolation points of one polynomial payout piece (evaluation costs their square per outcome), and rounding intervals. */
  maxPayoutPoints: number;
  maxOracles: number;
  /** C(oracles, threshold): the adaptor signatures per CET of a threshold contract. */
  maxOracleCombinations: number;
}

/** The most this build handles at all (what a contract already kept is read with). */
export const HARD_LIMITS: DlcLimits = {
  maxOutcomes: 1 << 20,
  maxCets: 100_000,
  maxPayoutPoints: 10_000,
  maxOracles: MAX_ORACLES,
  maxOracleCombinations: 184_756,
};

/** A contract over one of the limits: `rule` is the config key, with its value and the contract's. */
export class LimitError extends Error {
  override name = 'LimitError';
  constructor(
    what: string,
    readonly rule: string,
    readonly limit: number,
    readonly value: number,
  ) {
    super(`${what}: ${value} is over ${rule} (${limit}); refused before any work`);
  }
}

export function limit(what: string, rule: string, max: number, value: number): void {
  if (value > max) throw new LimitError(what, rule, max, value);
}

/** C(n, t), counted without overflow for the sizes allowed. */
export function combinationCount(n: number, t: number): number {
  let c = 1;
  for (let i = 1; i <= t; i++) c = (c * (n - t + i)) / i;
  return Math.round(c);
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
export const MAX_ITEMS = 100_000;

/** Runs a message's reader: a wire, oracle or numeric fault becomes a MessageError naming the message. */
export function guard<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof LimitError) throw err;
    if (err instanceof WireError || err instanceof OracleError || err instanceof NumericError) throw new MessageError(`${what}: ${err.message}`);
    throw err;
  }
}

export function messageReader(bytes: Uint8Array, type: number, name: string): Reader {
  const r = new Reader(bytes, name);
  const t = r.u16('message type');
  if (t !== type) throw new MessageError(`not a ${name} message: its type is ${t}, expected ${type}`);
  return r;
}

export const readSpk = (r: Reader, field: string): string => hex(r.bytes(r.u16(`${field} length`), field));
export const writeSpk = (w: Writer, spk: string): Writer => w.u16(spk.length / 2).bytes(Buffer.from(spk, 'hex'));

export function readInputs(r: Reader): FundingInput[] {
  const n = r.size('funding input count', MAX_ITEMS);
  return Array.from({ length: n }, (_, i) => {
    const input_serial_id = r.u64(`input ${i + 1} serial id`);
    const prev_tx = hex(r.bytes(r.size(`input ${i + 1} prevtx length`, 4_000_000), `input ${i + 1} prevtx`));
    return {
      input_serial_id,
      prev_tx,
      prev_tx_vout: r.u32(`input ${i + 1} prevtx_vout`),
      sequence: r.u32(`input ${i + 1} sequence`),
      max_witness_len: r.u16(`input ${i + 1} max_witness_len`),
      redeem_script: readSpk(r, `input ${i + 1} redeemscript`),
    };
  });
}

export function writeInputs(w: Writer, inputs: FundingInput[]): void {
  w.bigsize(inputs.length);
  for (const i of inputs) {
    w.u64(i.input_serial_id)
      .bigsize(i.prev_tx.length / 2)
      .bytes(Buffer.from(i.prev_tx, 'hex'))
      .u32(i.prev_tx_vout)
      .u32(i.sequence)
      .u16(i.max_witness_len);
    writeSpk(w, i.redeem_script);
  }
}

export function readAdaptorSigs(r: Reader): string[] {
  const n = r.size('adaptor signature count', MAX_ITEMS);
  return Array.from({ length: n }, (_, i) => hex(r.bytes(162, `adaptor signature ${i + 1}`)));
}

export function writeAdaptorSigs(w: Writer, sigs: string[]): void {
  w.bigsize(sigs.length);
  for (const s of sigs) w.bytes(Buffer.from(s, 'hex'));
}
