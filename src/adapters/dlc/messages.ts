// offer_dlc, accept_dlc and sign_dlc as the dlcspecs test vectors (test/test_vectors/*.json, protocol version 1)
// and rust-dlc serialize them: a u16 message type, then fields with enum variants and list lengths as bigsize,
// scripts as u16-prefixed bytes, oracle announcements as TLV records. Enumerated contracts with one oracle or a
// threshold of several, and numeric contracts (polynomial and hyperbola payout pieces, one oracle or a threshold of
// several attesting the same value) are read and written; disjoint events and allowed differences between oracles
// are refused by name (not built yet).
// This module holds the three negotiation messages; the fields they share are in message-fields.ts, contract_info
// in contract-info.ts, close_dlc in close-message.ts (all re-exported here: the room's one message API).

import { Writer } from './wire.js';
import { readContractInfo, writeContractInfo } from './contract-info.js';
import {
  guard,
  hex,
  HARD_LIMITS,
  MAX_ITEMS,
  messageReader,
  MessageError,
  MSG,
  PROTOCOL_VERSION,
  readAdaptorSigs,
  readInputs,
  readSpk,
  writeAdaptorSigs,
  writeInputs,
  writeSpk,
  type DlcLimits,
  type FundingInput,
} from './message-fields.js';
import type { ContractInfo } from './contract-info.js';

export {
  combinationCount,
  HARD_LIMITS,
  LimitError,
  MAX_ORACLES,
  MessageError,
  MSG,
  PROTOCOL_VERSION,
  type DlcLimits,
  type FundingInput,
} from './message-fields.js';
export { checkOracleSet, numericPayouts, type ContractInfo, type EnumPayout } from './contract-info.js';
export { decodeClose, encodeClose, type Close } from './close-message.js';

export interface Offer {
  protocol_version: number;
  contract_flags: number;
  chain_hash: string;
  temporary_contract_id: string;
  contract_info: ContractInfo;
  funding_pubkey: string;
  payout_spk: string;
  payout_serial_id: bigint;
  offer_collateral: bigint;
  funding_inputs: FundingInput[];
  change_spk: string;
  change_serial_id: bigint;
  fund_output_serial_id: bigint;
  fee_rate_per_vb: bigint;
  cet_locktime: number;
  refund_locktime: number;
}

export interface Accept {
  protocol_version: number;
  temporary_contract_id: string;
  accept_collateral: bigint;
  funding_pubkey: string;
  payout_spk: string;
  payout_serial_id: bigint;
  funding_inputs: FundingInput[];
  change_spk: string;
  change_serial_id: bigint;
  cet_adaptor_signatures: string[];
  refund_signature: string;
}

export interface Sign {
  protocol_version: number;
  contract_id: string;
  cet_adaptor_signatures: string[];
  refund_signature: string;
  /** One witness stack per funding input of the signer, in input_serial_id order. */
  funding_signatures: string[][];
}

/** offer_dlc from its bytes; `limits` are checked as it is read, before its payout curve is evaluated. */
export function decodeOffer(bytes: Uint8Array, limits: DlcLimits = HARD_LIMITS): Offer {
  return guard('offer_dlc', () => {
    const r = messageReader(bytes, MSG.offer, 'offer_dlc');
    const o: Offer = {
      protocol_version: r.u32('protocol_version'),
      contract_flags: r.u8('contract_flags'),
      chain_hash: hex(r.bytes(32, 'chain_hash')),
      temporary_contract_id: hex(r.bytes(32, 'temporary_contract_id')),
      contract_info: readContractInfo(r, limits),
      funding_pubkey: hex(r.bytes(33, 'funding_pubkey')),
      payout_spk: readSpk(r, 'payout_spk'),
      payout_serial_id: r.u64('payout_serial_id'),
      offer_collateral: r.u64('offer_collateral'),
      funding_inputs: readInputs(r),
      change_spk: readSpk(r, 'change_spk'),
      change_serial_id: r.u64('change_serial_id'),
      fund_output_serial_id: r.u64('fund_output_serial_id'),
      fee_rate_per_vb: r.u64('fee_rate_per_vb'),
      cet_locktime: r.u32('cet_locktime'),
      refund_locktime: r.u32('refund_locktime'),
    };
    r.end();
    if (o.protocol_version !== PROTOCOL_VERSION) throw new MessageError(`protocol version ${o.protocol_version} is not ${PROTOCOL_VERSION}`);
    return o;
  });
}

export function encodeOffer(o: Offer): Uint8Array {
  const w = new Writer()
    .u16(MSG.offer)
    .u32(o.protocol_version)
    .u8(o.contract_flags)
    .bytes(Buffer.from(o.chain_hash, 'hex'))
    .bytes(Buffer.from(o.temporary_contract_id, 'hex'));
  writeContractInfo(w, o.contract_info);
  w.bytes(Buffer.from(o.funding_pubkey, 'hex'));
  writeSpk(w, o.payout_spk).u64(o.payout_serial_id).u64(o.offer_collateral);
  writeInputs(w, o.funding_inputs);
  writeSpk(w, o.change_spk).u64(o.change_serial_id).u64(o.fund_output_serial_id).u64(o.fee_rate_per_vb).u32(o.cet_locktime).u32(o.refund_locktime);
  return w.done();
}

export function decodeAccept(bytes: Uint8Array): Accept {
  return guard('accept_dlc', () => {
    const r = messageReader(bytes, MSG.accept, 'accept_dlc');
    const a: Accept = {
      protocol_version: r.u32('protocol_version'),
      temporary_contract_id: hex(r.bytes(32, 'temporary_contract_id')),
      accept_collateral: r.u64('accept_collateral'),
      funding_pubkey: hex(r.bytes(33, 'funding_pubkey')),
      payout_spk: readSpk(r, 'payout_spk'),
      payout_serial_id: r.u64('payout_serial_id'),
      funding_inputs: readInputs(r),
      change_spk: readSpk(r, 'change_spk'),
      change_serial_id: r.u64('change_serial_id'),
      cet_adaptor_signatures: readAdaptorSigs(r),
      refund_signature: hex(r.bytes(64, 'refund_signature')),
    };
    if (r.u8('negotiation_fields present') !== 0) throw new MessageError('negotiation fields are not supported yet');
    r.end();
    if (a.protocol_version !== PROTOCOL_VERSION) throw new MessageError(`protocol version ${a.protocol_version} is not ${PROTOCOL_VERSION}`);
    return a;
  });
}

export function encodeAccept(a: Accept): Uint8Array {
  const w = new Writer()
    .u16(MSG.accept)
    .u32(a.protocol_version)
    .bytes(Buffer.from(a.temporary_contract_id, 'hex'))
    .u64(a.accept_collateral)
    .bytes(Buffer.from(a.funding_pubkey, 'hex'));
  writeSpk(w, a.payout_spk).u64(a.payout_serial_id);
  writeInputs(w, a.funding_inputs);
  writeSpk(w, a.change_spk).u64(a.change_serial_id);
  writeAdaptorSigs(w, a.cet_adaptor_signatures);
  return w.bytes(Buffer.from(a.refund_signature, 'hex')).u8(0).done();
}

export function decodeSign(bytes: Uint8Array): Sign {
  return guard('sign_dlc', () => {
    const r = messageReader(bytes, MSG.sign, 'sign_dlc');
    const s: Sign = {
      protocol_version: r.u32('protocol_version'),
      contract_id: hex(r.bytes(32, 'contract_id')),
      cet_adaptor_signatures: readAdaptorSigs(r),
      refund_signature: hex(r.bytes(64, 'refund_signature')),
      funding_signatures: Array.from({ length: r.size('funding signature count', MAX_ITEMS) }, (_, i) =>
        Array.from({ length: r.size(`witness ${i + 1} element count`, 100) }, (_, j) =>
          hex(r.bytes(r.size(`witness ${i + 1} element ${j + 1} length`, 10_000), `witness ${i + 1} element ${j + 1}`)),
        ),
      ),
    };
    r.end();
    if (s.protocol_version !== PROTOCOL_VERSION) throw new MessageError(`protocol version ${s.protocol_version} is not ${PROTOCOL_VERSION}`);
    return s;
  });
}

export function encodeSign(s: Sign): Uint8Array {
  const w = new Writer().u16(MSG.sign).u32(s.protocol_version).bytes(Buffer.from(s.contract_id, 'hex'));
  writeAdaptorSigs(w, s.cet_adaptor_signatures);
  w.bytes(Buffer.from(s.refund_signature, 'hex')).bigsize(s.funding_signatures.length);
  for (const stack of s.funding_signatures) {
    w.bigsize(stack.length);
    for (const e of stack) w.bigsize(e.length / 2).bytes(Buffer.from(e, 'hex'));
  }
  return w.done();
}
