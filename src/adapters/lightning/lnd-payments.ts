// LND's payments: paying an invoice, how a payment of a hash stands on the node (for the pending records'
// tracking), and the routing fee LND expects for an invoice.

import type * as Ln from 'ln-service';
import { RpcError } from '../../core/errors.js';
import { createHash } from 'node:crypto';
import type { KeysendRequest, PaymentState, PayRequest, PayResult } from './backend.js';
import { ln, type LndConnection } from './lnd-connection.js';

/** A payment LND already has in flight (its ErrPaymentInFlight, "payment is in transition") stays pending. */
export async function pay(conn: LndConnection, req: PayRequest): Promise<PayResult> {
  const r = await conn.call(
    (lnd) =>
      ln().payViaPaymentRequest({
        lnd,
        request: req.invoice,
        pathfinding_timeout: req.timeout * 1000,
        ...(req.max_fee_msat !== undefined ? { max_fee_mtokens: String(req.max_fee_msat) } : {}),
      }),
    req.timeout * 1000 + conn.settings.timeoutMs,
  );
  return paid(r);
}

/** The custom record that carries a keysend's preimage to the payee (LND's record.KeySendType, bLIP 3). */
const KEYSEND_RECORD = '5482373484';

/**
 * Keysend through LND's router (SendPaymentV2 with dest, payment_hash and the preimage record): anyad's preimage, so
 * the hash it recorded before the start is the one LND pays and tracks. The payee must accept keysend (LND's
 * --accept-keysend; Core Lightning and LDK do by default).
 */
export async function keysend(conn: LndConnection, req: KeysendRequest): Promise<PayResult> {
  const id = createHash('sha256').update(Buffer.from(req.preimage, 'hex')).digest('hex');
  const r = await conn.call(
    (lnd) =>
      ln().payViaPaymentDetails({
        lnd,
        destination: req.destination,
        id,
        mtokens: String(req.amount_msat),
        messages: [{ type: KEYSEND_RECORD, value: req.preimage }],
        pathfinding_timeout: req.timeout * 1000,
        ...(req.max_fee_msat !== undefined ? { max_fee_mtokens: String(req.max_fee_msat) } : {}),
      }),
    req.timeout * 1000 + conn.settings.timeoutMs,
  );
  return paid(r);
}

/** ln-service's answer to a payment (mtokens include the fee) as the backend contract's PayResult. */
function paid(r: { id: string; mtokens: string; fee_mtokens: string; secret: string }): PayResult {
  const fee = Number(r.fee_mtokens);
  return { payment_hash: r.id, amount_msat: Number(r.mtokens) - fee, fee_msat: fee, preimage: r.secret };
}

export async function paymentState(conn: LndConnection, paymentHash: string): Promise<PaymentState | undefined> {
  let r: Awaited<ReturnType<typeof Ln.getPayment>>;
  try {
    r = await conn.call((lnd) => ln().getPayment({ lnd, id: paymentHash }));
  } catch (err) {
    if (err instanceof RpcError && (err.data as { lnd_error?: string } | undefined)?.lnd_error === 'SentPaymentNotFound') return undefined;
    throw err;
  }
  if (r.is_confirmed && r.payment) {
    const fee = Number(r.payment.fee_mtokens);
    return { status: 'complete', preimage: r.payment.secret, amount_msat: Number(r.payment.mtokens) - fee, fee_msat: fee };
  }
  return { status: r.is_failed ? 'failed' : 'pending' };
}

export async function estimateFee(conn: LndConnection, invoice: string): Promise<{ fee_msat: number }> {
  const r = await conn.call((lnd) => ln().getRoutingFeeEstimate({ lnd, request: invoice, timeout: Math.min(conn.settings.timeoutMs, 60_000) }));
  return { fee_msat: Number(r.fee_mtokens) };
}
