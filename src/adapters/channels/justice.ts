// Justice blobs for a watchtower: the penalty for a revoked state, encrypted (AES-256-GCM) with a key only the
// breaching commitment's txid gives. The tower holds the blob under a hint (the txid's first 16 bytes) and can read
// it only once that commitment is seen (BOLT 13 drafts' and LND's towers work this way). Pure: what a tower is
// handed by anyone (sc.towerwatch) goes through openJustice, which never throws.

import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

export interface JusticeBlob {
  hint: string;
  blob: string;
}

/** The smallest blob: a 12-byte nonce, a 16-byte tag and a transaction of at least 60 bytes. */
const MIN_BLOB = 12 + 16 + 60;

const justiceKey = (txid: string): Buffer => createHash('sha256').update('anyad/sc/justice/v1').update(Buffer.from(txid, 'hex')).digest();

/** The penalty, encrypted with a key only the breaching commitment's txid gives. */
export function sealJustice(commitmentTxid: string, penaltyHex: string): JusticeBlob {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', justiceKey(commitmentTxid), iv);
  const body = Buffer.concat([c.update(Buffer.from(penaltyHex, 'hex')), c.final()]);
  return { hint: commitmentTxid.slice(0, 32), blob: Buffer.concat([iv, body, c.getAuthTag()]).toString('hex') };
}

/** The penalty inside a blob (hex), when `txid` is the commitment it was sealed for; undefined otherwise. Never throws. */
export function openJustice(txid: string, blobHex: string): string | undefined {
  const b = Buffer.from(blobHex, 'hex');
  if (b.length < MIN_BLOB) return undefined;
  try {
    const d = createDecipheriv('aes-256-gcm', justiceKey(txid), b.subarray(0, 12));
    d.setAuthTag(b.subarray(b.length - 16));
    return Buffer.concat([d.update(b.subarray(12, b.length - 16)), d.final()]).toString('hex');
  } catch {
    return undefined;
  }
}
