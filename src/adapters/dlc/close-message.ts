// close_dlc (a mutual close proposal, node-dlc's DlcCloseV0): read and written as Atomic Finance's DLC provider
// sends it, without extra funding inputs.

import { Writer } from './wire.js';
import { guard, hex, MAX_ITEMS, messageReader, MessageError, MSG } from './message-fields.js';

/**
 * close_dlc_v0: a mutual close proposal. The dlcspecs have no mutual-close message; this is node-dlc's DlcCloseV0
 * (type 52170, as Atomic Finance's DLC provider sends it): the contract id, the proposer's compact signature of the
 * close transaction, both payouts, the funding input's serial id, then extra funding inputs and their signatures.
 * anyad sends and takes it without extra inputs (an offer that carries some is refused by name).
 */
export interface Close {
  contract_id: string;
  close_signature: string;
  offer_payout: bigint;
  accept_payout: bigint;
  fund_input_serial_id: bigint;
}

export function decodeClose(bytes: Uint8Array): Close {
  return guard('close_dlc', () => {
    const r = messageReader(bytes, MSG.close, 'close_dlc');
    const c: Close = {
      contract_id: hex(r.bytes(32, 'contract_id')),
      close_signature: hex(r.bytes(64, 'close_signature')),
      offer_payout: r.u64('offer_payout_satoshis'),
      accept_payout: r.u64('accept_payout_satoshis'),
      fund_input_serial_id: r.u64('fund_input_serial_id'),
    };
    if (r.size('funding input count', MAX_ITEMS) !== 0)
      throw new MessageError('close_dlc with extra funding inputs is not supported (anyad closes from the funding output alone)');
    if (r.size('funding signature count', MAX_ITEMS) !== 0) throw new MessageError('close_dlc carries funding signatures but no funding inputs');
    r.end();
    return c;
  });
}

export function encodeClose(c: Close): Uint8Array {
  return new Writer()
    .u16(MSG.close)
    .bytes(Buffer.from(c.contract_id, 'hex'))
    .bytes(Buffer.from(c.close_signature, 'hex'))
    .u64(c.offer_payout)
    .u64(c.accept_payout)
    .u64(c.fund_input_serial_id)
    .bigsize(0)
    .bigsize(0)
    .done();
}
