// Payment preimages at rest (issue 26). A preimage is the proof that a payment was made (BOLT 11: sha256(preimage)
// is the invoice's payment hash), so it is a secret worth keeping out of every copy of the datadir and every backup.
// anyad keeps it in its payment record only sealed by the HSM room (HsmApi.sealSecret: XChaCha20-Poly1305 under a
// key the HSM holds), with the backend and the payment hash bound as the purpose, so a sealed value moved to another
// record does not open. Answers (ln.listpayments, l2.status, l2.history) open it again for callers whose role may
// see preimages; ln.pay answers the node's own preimage as before.
//
// The choices, for the README:
// - No HSM room configured: anyad keeps no preimage at all. Core Lightning (listpays) and LND (ListPayments) keep
//   every payment's preimage in their own database; that record is the proof of payment their users already rely
//   on and back up. A second copy in clear in anyad's records would only multiply the copies (in every anyad
//   backup), so answers read the preimage from the node when asked; while the node is unreachable a listed
//   payment (stale: true) shows no preimage.
// - The keystore locked when a payment completes: the record is written complete at once (the fact that it was
//   paid is never lost or delayed), without the preimage, and indexed `<backend>:reseal:<hash>`. Every look of the
//   node watch (ln.watchinterval) then reads the preimage from the node's own record and seals it once the keystore
//   is open again; meanwhile answers read it from the node. Nothing secret waits in memory or on disk in clear.
// - Records written in clear by an earlier anyad: migration 2 of the room indexes them for resealing (a migration
//   cannot seal: it runs before the keystore may be unlocked), and the same sweep seals them once the keystore is
//   open; until then they stay readable as they are. Without an HSM room the sweep drops the clear copy once the
//   node confirms it holds the same preimage (a copy the node no longer has is kept: it may be the only proof).

import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { HsmApi } from '../../hsm/api.js';
import type { LightningBackend, PaymentRecord } from './backend.js';
import type { LnRecords } from './records.js';

/** The purpose a preimage is sealed for: bound as associated data, so it opens only for this backend's record of this hash. */
export const preimagePurpose = (backend: string, paymentHash: string): string => `ln.preimage:${backend}:${paymentHash}`;

/** A preimage proves a payment only when it hashes to the payment hash (BOLT 11 `p` field; BOLT 2 update_fulfill_htlc). */
export function provesPayment(preimage: string | undefined, paymentHash: string): preimage is string {
  if (preimage === undefined || !/^[0-9a-f]{64}$/.test(preimage)) return false;
  return createHash('sha256').update(Buffer.from(preimage, 'hex')).digest('hex') === paymentHash;
}

/** What a completed payment's record keeps of its preimage: the sealed value, or nothing and a note to seal it later. */
export interface KeptPreimage {
  sealed?: string;
  reseal: boolean;
}

export class Preimages {
  /** undefined when no HSM room is configured: then no preimage is kept (the node has it). */
  private readonly hsm: HsmApi | undefined;
  private readonly backend: LightningBackend;
  private readonly records: LnRecords;
  private readonly log: Logger;
  /** Rewrites the room's LevelDB files, so a clear value replaced here leaves no old copy in them. */
  private readonly compact: () => Promise<void>;

  constructor(opts: { hsm: HsmApi | undefined; backend: LightningBackend; records: LnRecords; log: Logger; compact: () => Promise<void> }) {
    this.hsm = opts.hsm;
    this.backend = opts.backend;
    this.records = opts.records;
    this.log = opts.log;
    this.compact = opts.compact;
  }

  private purpose(hash: string): string {
    return preimagePurpose(this.backend.backend, hash);
  }

  /** Seals a completed payment's preimage for its record; never throws (the payment is recorded either way). */
  async keep(hash: string, preimage: string | undefined): Promise<KeptPreimage> {
    if (!this.hsm) return { reseal: false };
    if (!provesPayment(preimage, hash)) return { reseal: true }; // read from the node's record by the sweep
    try {
      return { sealed: await this.hsm.sealSecret(this.purpose(hash), Buffer.from(preimage, 'hex')), reseal: false };
    } catch (err) {
      this.log.warn(
        { payment_hash: hash, reason: (err as Error).message },
        'cannot seal a payment preimage now (keystore locked?): recorded without it, sealed later',
      );
      return { reseal: true };
    }
  }

  /** The node's preimage of a completed payment, when the node is reachable and it proves the payment. */
  private async fromNode(hash: string): Promise<string | undefined> {
    if (!this.backend.connected) return undefined;
    try {
      const state = await this.backend.paymentState(hash);
      return provesPayment(state?.preimage, hash) ? state.preimage : undefined;
    } catch {
      return undefined;
    }
  }

  /** The preimage of a record in clear, for an answer: opened, from an earlier anyad's clear copy, or from the node. */
  async reveal(rec: PaymentRecord): Promise<PaymentRecord> {
    const { preimage_sealed: sealed, preimage: clear, ...rest } = rec;
    if (rec.status !== 'complete') return rest;
    if (sealed !== undefined && this.hsm) {
      try {
        return { ...rest, preimage: (await this.hsm.openSecret(this.purpose(rec.payment_hash), sealed)).toString('hex') };
      } catch {
        // Locked, another keystore or a changed value: the node's record still has it.
      }
    }
    const preimage = clear ?? (await this.fromNode(rec.payment_hash));
    return preimage === undefined ? rest : { ...rest, preimage };
  }

  /**
   * Seals what waits in the reseal index (payments completed while the keystore was locked, clear records of an
   * earlier anyad). Stops at the first Locked or unreachable HSM: the next look tries again. Only this sweep
   * rewrites a complete record (pay and the reconciliation write pending ones only), and the node watch runs one
   * sweep at a time, so the record read here is the one replaced.
   */
  async resealWaiting(): Promise<void> {
    let sealed = 0;
    let droppedClear = false;
    try {
      for (const hash of await this.records.waitingReseal()) {
        const r = await this.resealOne(hash);
        if (r === 'locked') return;
        if (r === 'sealed' || r === 'sealed-clear') sealed++;
        if (r === 'sealed-clear' || r === 'dropped-clear') droppedClear = true;
      }
    } finally {
      // LevelDB keeps an overwritten value in its log and tables until they are compacted: a clear preimage replaced
      // here is only gone from the files once the room's range is compacted.
      if (droppedClear) await this.compact();
      if (sealed > 0) this.log.info({ sealed }, 'payment preimages sealed by the HSM room');
    }
  }

  /** One waiting record: sealed (from a clear copy or the node's record), a clear copy dropped, or left for later. */
  private async resealOne(hash: string): Promise<'locked' | 'waiting' | 'done' | 'sealed' | 'sealed-clear' | 'dropped-clear'> {
    const rec = await this.records.payment(hash);
    if (rec?.status !== 'complete') {
      await this.records.doneResealing(hash);
      return 'done';
    }
    const { preimage: clear, preimage_sealed: _sealed, ...rest } = rec;
    if (!this.hsm) {
      // No key to seal with: a clear copy goes once the node shows it holds the same proof.
      if (clear === undefined) {
        await this.records.savePayment(rest);
        return 'done';
      }
      if ((await this.fromNode(hash)) !== clear) return 'waiting';
      await this.records.savePayment(rest);
      return 'dropped-clear';
    }
    const preimage = provesPayment(clear, hash) ? clear : ((await this.fromNode(hash)) ?? clear);
    // The node is away (next look), or a clear value that is not a preimage at all: left as it is, readable.
    if (preimage === undefined || !/^([0-9a-f]{2})+$/i.test(preimage)) return 'waiting';
    let sealed: string;
    try {
      sealed = await this.hsm.sealSecret(this.purpose(hash), Buffer.from(preimage, 'hex'));
    } catch (err) {
      this.log.debug({ reason: (err as Error).message }, 'preimages wait for the keystore to be sealed');
      return 'locked';
    }
    await this.records.savePayment({ ...rest, preimage_sealed: sealed });
    return clear === undefined ? 'sealed' : 'sealed-clear';
  }
}
