// What of a contract is sealed at rest (issue 26), and how. A copy of the datadir or a `backup` file must not let its
// holder take or grief the funds of a contract. Per field of the contract record:
//
// - sealed (HsmApi.sealSecret, one value per contract, purpose `dlc.messages:<id>` bound as associated data so it
//   cannot be moved to another record): the accept_dlc and sign_dlc messages as exchanged, for what they carry
//   - the counterparty's adaptor signatures on our CETs: with an oracle attestation they complete its signature on
//     a CET; they are what lets us claim, and with ours (below) anyone holding an attestation completes a CET;
//   - our adaptor signatures: given to the counterparty, but together with its own they make every CET complete
//     once attested, without either key;
//   - both refund signatures: together they are the complete refund transaction, that anyone holding them could
//     send past refund_locktime to undo an outcome the winner has not claimed yet (griefing).
// - public anyway, kept in clear: the offer (terms, keys' public halves, funding inputs; no signature), the messages'
//   other fields (kept as the messages with their CET and refund signatures blanked, for the chain follower, which
//   must run while the keystore is locked), the funding witnesses (on chain with the funding transaction; before it,
//   useless without the other party's), the closing transaction sent (closing_hex: broadcast), the mutual-close
//   txids and payouts (our signed close proposal is answered to the app, never stored), key ids (the keys
//   themselves live in the HSM room's keystore). No nonce is stored (the adaptor nonces stay in the HSM) and an
//   oracle attestation is used when given (dlc.close, autoclose), never stored.
//
// Closing opens the sealed value: dlc.close, autoclose and dlc.refund sign with the keystore anyway, so a contract
// that can be signed for can be opened; the follower (funding, CETs, refund seen on chain) needs nothing sealed.
// Records of an earlier anyad hold the messages in clear: the follower's sweep seals them once the keystore is open
// and compacts the room's range so that the clear copies leave the LevelDB files.

import { decodeAccept, decodeSign, encodeAccept, encodeSign } from './messages.js';

/** The HSM purpose of a contract's sealed messages: its id bound as associated data. */
export const sealPurpose = (id: string): string => `dlc.messages:${id}`;

const NO_SIGNATURE = '00'.repeat(64);

/** An accept_dlc without its CET adaptor signatures and refund signature: the terms, kept in clear. */
export function publicAccept(acceptHex: string): string {
  const a = decodeAccept(Buffer.from(acceptHex, 'hex'));
  return Buffer.from(encodeAccept({ ...a, cet_adaptor_signatures: [], refund_signature: NO_SIGNATURE })).toString('hex');
}

/** A sign_dlc without its CET adaptor signatures and refund signature (its funding witnesses are public). */
export function publicSign(signHex: string): string {
  const s = decodeSign(Buffer.from(signHex, 'hex'));
  return Buffer.from(encodeSign({ ...s, cet_adaptor_signatures: [], refund_signature: NO_SIGNATURE })).toString('hex');
}

export interface Messages {
  accept: string | null;
  sign: string | null;
}

/** The messages as one plaintext: each a 4-byte length (0: none) and its bytes. */
export function packMessages(m: Messages): Buffer {
  const part = (h: string | null): Buffer[] => {
    const b = Buffer.from(h ?? '', 'hex');
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    return [len, b];
  };
  return Buffer.concat([...part(m.accept), ...part(m.sign)]);
}

export function unpackMessages(b: Buffer): Messages {
  const at = { i: 0 };
  const part = (): string | null => {
    const len = b.readUInt32BE(at.i);
    const h = b.subarray(at.i + 4, at.i + 4 + len).toString('hex');
    at.i += 4 + len;
    return len === 0 ? null : h;
  };
  const accept = part();
  const sign = part();
  return { accept, sign };
}
