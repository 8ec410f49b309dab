// The two operations of a Lightning node that anyad records, shared by ln.* and l2.submit: creating an invoice and
// paying one. A payment is recorded as pending before it starts and keeps the node's final word. A payment whose
// outcome anyad did not see (the node went away mid-payment, or anyad stopped) stays pending and is settled later
// from the node's own payment record, by reconcilePending, which the node watcher runs on every look.

import { createHash, randomBytes } from 'node:crypto';
import type { Static } from '@sinclair/typebox';
import type { Network } from '../../core/options.js';
import type { EventBus } from '../../core/events.js';
import { ErrorCode, rpcError, RpcError } from '../../core/errors.js';
import { PaymentInFlight, type InvoiceRecord, type LightningBackend, type PaymentRecord, type PayResult } from './backend.js';
import { checkInvoice } from './bolt11.js';
import { checkNodeId } from './node-id.js';
import type { Preimages } from './preimages.js';
import type { LnRecords } from './records.js';
import { PayOp, InvoiceOp, KeysendOp } from './declarations.js';
import { LN_INVOICE, LN_PAYMENT } from './topics.js';

/** What an operation needs: the node, anyad's records of it, how preimages are kept, the event bus, and anyad's network. */
export interface LnParts {
  backend: LightningBackend;
  records: LnRecords;
  preimages: Preimages;
  bus: EventBus;
  network: Network;
}

/** Creates an invoice and keeps anyad's record of it (the node's invoice stream publishes ln.invoice created). */
export async function createInvoice(
  { backend, records, bus }: LnParts,
  p: Static<typeof InvoiceOp>,
): Promise<{ payment_hash: string; bolt11: string; expires_at: number; label: string }> {
  const label = p.label ?? `anya-${Date.now()}-${randomBytes(4).toString('hex')}`;
  // The created event waits for this record, so it carries anyad's label.
  const r = await records.track(
    (async () => {
      const made = await backend.createInvoice({ amount_msat: p.amount_msat, description: p.description, expiry: p.expiry, label });
      const rec: InvoiceRecord = {
        payment_hash: made.payment_hash,
        bolt11: made.bolt11,
        label,
        description: p.description,
        amount_msat: p.amount_msat,
        status: 'unpaid',
        created_at: Math.floor(Date.now() / 1000),
        expires_at: made.expires_at,
      };
      await records.saveInvoice(rec);
      return made;
    })(),
  );
  if (!records.followsCreated)
    bus.publish(LN_INVOICE, { backend: backend.backend, status: 'created', payment_hash: r.payment_hash, label, amount_msat: p.amount_msat });
  return { payment_hash: r.payment_hash, bolt11: r.bolt11, expires_at: r.expires_at, label };
}

export interface Paid {
  payment_hash: string;
  /** pending: the node is still paying; ln.payment says how it ended (the record follows the node's word). */
  status: 'complete' | 'pending';
  amount_msat: number | null;
  fee_msat: number | null;
  preimage: string | null;
}

export async function pay(parts: LnParts, p: Static<typeof PayOp>): Promise<Paid> {
  const { backend, records, network } = parts;
  checkInvoice(p.invoice, network);
  const dec = await backend.decode(p.invoice);
  const hash = dec.payment_hash;
  // A record is never overwritten by a second attempt that cannot succeed: the proof of payment stays.
  let prior = await records.payment(hash);
  if (prior?.status === 'pending' && !records.paying.has(hash)) prior = await settleFromNode(parts, prior);
  if (prior?.status === 'complete')
    throw rpcError('Conflict', `invoice ${hash} was already paid through anyad (its preimage is in ln.listpayments)`, { payment_hash: hash });
  if (prior?.status === 'pending') throw rpcError('Conflict', `a payment of invoice ${hash} through anyad is still in progress`, { payment_hash: hash });
  // Checked and claimed with no await between, so two concurrent calls cannot both start it.
  if (records.paying.has(hash)) throw rpcError('Conflict', `a payment of invoice ${hash} through anyad is still in progress`, { payment_hash: hash });
  records.paying.add(hash);
  const base: PaymentRecord = {
    payment_hash: hash,
    bolt11: p.invoice,
    status: 'pending',
    amount_msat: dec.amount_msat,
    fee_msat: null,
    created_at: Math.floor(Date.now() / 1000),
  };
  return runPayment(parts, base, () =>
    backend.pay({ invoice: p.invoice, timeout: p.timeout, ...(p.max_fee_msat !== undefined ? { max_fee_msat: p.max_fee_msat } : {}) }),
  );
}

/**
 * Keysend: anyad draws the preimage (so the hash is new and no earlier record can stand in its way), then the payment
 * is recorded and reported exactly as an invoice's is.
 */
export async function keysend(parts: LnParts, p: Static<typeof KeysendOp>): Promise<Paid> {
  const { backend, records } = parts;
  const send = backend.keysend?.bind(backend);
  if (!send) throw rpcError('Unsupported', `keysend on the ${backend.backend} backend: ${backend.keysendRefusal ?? 'not built yet'}`);
  // Before anything is recorded.
  checkNodeId(p.destination, 'destination');
  const preimage = randomBytes(32);
  const hash = createHash('sha256').update(preimage).digest('hex');
  records.paying.add(hash);
  const base: PaymentRecord = {
    payment_hash: hash,
    bolt11: '',
    destination: p.destination.toLowerCase(),
    status: 'pending',
    amount_msat: p.amount_msat,
    fee_msat: null,
    created_at: Math.floor(Date.now() / 1000),
  };
  return runPayment(parts, base, () =>
    send({
      destination: base.destination!,
      amount_msat: p.amount_msat,
      preimage: preimage.toString('hex'),
      timeout: p.timeout,
      ...(p.max_fee_msat !== undefined ? { max_fee_msat: p.max_fee_msat } : {}),
    }),
  );
}

/**
 * One payment from its pending record to the node's word: recorded pending first, then complete (the preimage kept
 * sealed) or failed, with ln.payment published once. The caller has claimed the hash in records.paying.
 */
async function runPayment(parts: LnParts, base: PaymentRecord, send: () => Promise<PayResult>): Promise<Paid> {
  const { backend, records, preimages, bus } = parts;
  const hash = base.payment_hash;
  try {
    await records.savePayment(base);
    const r = await send();
    // The preimage is kept sealed, or not at all (preimages.ts); the caller gets it in clear from the node's answer.
    const kept = await preimages.keep(hash, r.preimage);
    await records.savePayment(
      { ...base, status: 'complete', amount_msat: r.amount_msat, fee_msat: r.fee_msat, ...(kept.sealed ? { preimage_sealed: kept.sealed } : {}) },
      kept.reseal,
    );
    bus.publish(LN_PAYMENT, { backend: backend.backend, status: 'succeeded', payment_hash: hash, amount_msat: r.amount_msat, fee_msat: r.fee_msat });
    return { payment_hash: hash, status: 'complete', amount_msat: r.amount_msat, fee_msat: r.fee_msat, preimage: r.preimage };
  } catch (err) {
    if (err instanceof PaymentInFlight) return { payment_hash: hash, status: 'pending', amount_msat: base.amount_msat, fee_msat: null, preimage: null };
    if (err instanceof RpcError && err.code === ErrorCode.BackendUnavailable) {
      // The node may still complete it: the record stays pending until the node says how it ended.
      throw rpcError('BackendUnavailable', `${err.message}; the payment's outcome is not known yet (ln.listpayments shows it once the node answers)`, {
        ...(err.data as object),
        payment_hash: hash,
      });
    }
    await records.savePayment({ ...base, status: 'failed', error: (err as Error).message });
    bus.publish(LN_PAYMENT, { backend: backend.backend, status: 'failed', payment_hash: hash, reason: (err as Error).message });
    throw err;
  } finally {
    records.paying.delete(hash);
  }
}

/** Asks the node how a pending payment ended and records it (publishing ln.payment when it ended). */
async function settleFromNode({ backend, records, preimages, bus }: LnParts, rec: PaymentRecord): Promise<PaymentRecord> {
  const state = await backend.paymentState(rec.payment_hash);
  // Sealed before the record is looked at again, so no await falls between that look and the write.
  const kept = state?.status === 'complete' ? await preimages.keep(rec.payment_hash, state.preimage) : undefined;
  // While the node was asked, a pay of this hash may have ended (and published its own event): look again, so an
  // outcome is recorded and published once.
  const current = await records.payment(rec.payment_hash);
  if (current?.status !== 'pending' || records.paying.has(rec.payment_hash)) return current ?? rec;
  let next: PaymentRecord;
  let reseal = false;
  if (state?.status === 'complete' && kept) {
    reseal = kept.reseal;
    next = {
      ...rec,
      status: 'complete',
      amount_msat: state.amount_msat ?? rec.amount_msat,
      fee_msat: state.fee_msat ?? null,
      ...(kept.sealed ? { preimage_sealed: kept.sealed } : {}),
    };
  } else if (state?.status === 'failed') next = { ...rec, status: 'failed', error: 'the node reports the payment failed' };
  else if (state === undefined)
    next = { ...rec, status: 'failed', error: 'the node never started this payment (anyad stopped or lost the node before handing it over)' };
  else return rec;
  await records.savePayment(next, reseal);
  bus.publish(
    LN_PAYMENT,
    next.status === 'complete'
      ? { backend: backend.backend, status: 'succeeded', payment_hash: rec.payment_hash, amount_msat: next.amount_msat, fee_msat: next.fee_msat }
      : { backend: backend.backend, status: 'failed', payment_hash: rec.payment_hash, reason: next.error },
  );
  return next;
}

/** Settles every pending record this process is not paying right now (after a crash, or a node that went away). */
export async function reconcilePending(parts: LnParts): Promise<void> {
  for (const rec of await parts.records.pendingPayments()) {
    if (!parts.records.paying.has(rec.payment_hash)) await settleFromNode(parts, rec);
  }
}
