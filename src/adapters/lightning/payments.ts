// Payments through anyad: each is recorded as pending before it starts and keeps the node's final word. A payment
// whose outcome anyad did not see (the node went away mid-payment, or anyad stopped) stays pending and is settled
// later from the node's own payment record, by reconcilePending, which the node watcher runs on every look.

import type { EventBus } from '../../rpc/events.js';
import { ErrorCode, rpcError, RpcError } from '../../rpc/errors.js';
import type { LightningBackend, PaymentRecord } from './backend.js';
import type { LnRecords } from './records.js';

export interface PayParams {
  invoice: string;
  max_fee_msat?: number | undefined;
  timeout: number;
}

export interface Paid {
  payment_hash: string;
  status: 'complete';
  amount_msat: number;
  fee_msat: number;
  preimage: string;
}

export async function pay(backend: LightningBackend, records: LnRecords, bus: EventBus, p: PayParams): Promise<Paid> {
  const dec = await backend.decode(p.invoice);
  const hash = dec.payment_hash;
  // A record is never overwritten by a second attempt that cannot succeed: the proof of payment stays.
  let prior = await records.payment(hash);
  if (prior?.status === 'pending' && !records.paying.has(hash)) prior = await settleFromNode(backend, records, bus, prior);
  if (prior?.status === 'complete') throw rpcError('Conflict', `invoice ${hash} was already paid through anyad (its preimage is in ln.listpayments)`, { payment_hash: hash });
  if (prior?.status === 'pending') throw rpcError('Conflict', `a payment of invoice ${hash} through anyad is still in progress`, { payment_hash: hash });
  const base: PaymentRecord = { payment_hash: hash, bolt11: p.invoice, status: 'pending', amount_msat: dec.amount_msat, fee_msat: null, created_at: Math.floor(Date.now() / 1000) };
  await records.savePayment(base);
  records.paying.add(hash);
  try {
    const r = await backend.pay({ invoice: p.invoice, timeout: p.timeout, ...(p.max_fee_msat !== undefined ? { max_fee_msat: p.max_fee_msat } : {}) });
    await records.savePayment({ ...base, status: 'complete', amount_msat: r.amount_msat, fee_msat: r.fee_msat, preimage: r.preimage });
    bus.publish('ln.payment', { backend: backend.backend, status: 'succeeded', payment_hash: hash, amount_msat: r.amount_msat, fee_msat: r.fee_msat });
    return { payment_hash: hash, status: 'complete', amount_msat: r.amount_msat, fee_msat: r.fee_msat, preimage: r.preimage };
  } catch (err) {
    if (err instanceof RpcError && err.code === ErrorCode.BackendUnavailable) {
      // The node may still complete it: the record stays pending until the node says how it ended.
      throw rpcError('BackendUnavailable', `${err.message}; the payment's outcome is not known yet (ln.listpayments shows it once the node answers)`, { ...(err.data as object), payment_hash: hash });
    }
    await records.savePayment({ ...base, status: 'failed', error: (err as Error).message });
    bus.publish('ln.payment', { backend: backend.backend, status: 'failed', payment_hash: hash, reason: (err as Error).message });
    throw err;
  } finally {
    records.paying.delete(hash);
  }
}

/** Asks the node how a pending payment ended and records it (publishing ln.payment when it ended). */
async function settleFromNode(backend: LightningBackend, records: LnRecords, bus: EventBus, rec: PaymentRecord): Promise<PaymentRecord> {
  const state = await backend.paymentState(rec.payment_hash);
  let next: PaymentRecord;
  if (state?.status === 'complete') next = { ...rec, status: 'complete', amount_msat: state.amount_msat ?? rec.amount_msat, fee_msat: state.fee_msat ?? null, ...(state.preimage ? { preimage: state.preimage } : {}) };
  else if (state?.status === 'failed') next = { ...rec, status: 'failed', error: 'the node reports the payment failed' };
  else if (state === undefined) next = { ...rec, status: 'failed', error: 'the node never started this payment (anyad stopped or lost the node before handing it over)' };
  else return rec;
  await records.savePayment(next);
  bus.publish('ln.payment', next.status === 'complete' ? { backend: backend.backend, status: 'succeeded', payment_hash: rec.payment_hash, amount_msat: next.amount_msat, fee_msat: next.fee_msat } : { backend: backend.backend, status: 'failed', payment_hash: rec.payment_hash, reason: next.error });
  return next;
}

/** Settles every pending record this process is not paying right now (after a crash, or a node that went away). */
export async function reconcilePending(backend: LightningBackend, records: LnRecords, bus: EventBus): Promise<void> {
  for (const rec of await records.pendingPayments()) {
    if (!records.paying.has(rec.payment_hash)) await settleFromNode(backend, records, bus, rec);
  }
}
