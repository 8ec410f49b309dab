// The LND test peer's Router service (see lnd-peer.ts for what the peer proves): SendPaymentV2 streams IN_FLIGHT then
// SUCCEEDED or FAILED as LND does, paying across the shared in-memory network (one hop, the network's flat fee, a
// fee limit honoured); TrackPaymentV2 answers a payment's latest state; EstimateRouteFee the flat fee when the payee
// is reachable. While holdPayments is set a payment waits in flight until releasePayments().

import { createHash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { decodeInvoice, feeFor, PayFailure } from './ln-network.js';
import { Fail, failStream, type Guards, type Obj } from './lnd-peer-grpc.js';
import type { LndState } from './lnd-peer-state.js';

export function routerHandlers(s: LndState, { guard, guardStream }: Guards): grpc.UntypedServiceImplementation {
  return {
    SendPaymentV2: guardStream((c) => void sendPayment(s, c)),
    TrackPaymentV2: guardStream((c) => trackPayment(s, c)),
    EstimateRouteFee: guard((req) => estimateRouteFee(s, req)),
  };
}

/** Lets every held payment go on (and new ones pass). */
export function releasePayments(s: LndState): void {
  s.knobs.holdPayments = false;
  for (const r of s.held.splice(0)) r();
}

async function sendPayment(s: LndState, call: grpc.ServerWritableStream<Obj, Obj>): Promise<void> {
  const req = call.request;
  // A keysend (no payment request; dest, payment_hash and the preimage in custom record 5482373484, as ln-service's
  // payViaPaymentDetails sends it), or an invoice.
  const keysend = !req.payment_request && req.dest !== undefined ? keysendOf(req) : undefined;
  let d: { payee: string; hash: string; amountMsat: number | null };
  if (keysend) d = keysend;
  else {
    try {
      d = decodeInvoice(String(req.payment_request));
    } catch (err) {
      return failStream(call, grpc.status.UNKNOWN, `invalid payment request: ${(err as Error).message}`);
    }
  }
  const amount = d.amountMsat ?? (Number(req.amt_msat ?? 0) || Number(req.amt ?? 0) * 1000);
  const fee = feeFor(amount);
  const created = String(BigInt(Date.now()) * 1_000_000n);
  const base = {
    payment_hash: d.hash,
    value: String(Math.floor(amount / 1000)),
    creation_date: String(Math.floor(Date.now() / 1000)),
    path: [],
    fee: '0',
    value_sat: String(Math.floor(amount / 1000)),
    value_msat: String(amount),
    payment_request: String(req.payment_request ?? ''),
    fee_sat: '0',
    fee_msat: '0',
    creation_time_ns: created,
    payment_index: String(s.payments.size + 1),
    first_hop_custom_records: {},
  };
  const send = (msg: Obj, final: boolean): void => {
    s.payments.set(d.hash, msg);
    if (call.writable) {
      call.write(msg);
      if (final) call.end();
    }
  };
  const failed = (reason: string): void => send({ ...base, status: 'FAILED', htlcs: [], payment_preimage: '0'.repeat(64), failure_reason: reason }, true);
  const limit =
    req.fee_limit_msat !== undefined && req.fee_limit_msat !== '0'
      ? Number(req.fee_limit_msat)
      : Number(req.fee_limit_sat ?? 0) > 0
        ? Number(req.fee_limit_sat) * 1000
        : Infinity;
  if (fee > limit) return failed('FAILURE_REASON_NO_ROUTE');
  const hop = {
    chan_id: '329853488332800',
    chan_capacity: '1000000',
    amt_to_forward: String(Math.floor(amount / 1000)),
    fee: '0',
    expiry: 318,
    amt_to_forward_msat: String(amount),
    fee_msat: String(fee),
    pub_key: d.payee,
    tlv_payload: true,
    custom_records: {},
  };
  const route = {
    total_time_lock: 318,
    total_fees: String(Math.floor(fee / 1000)),
    total_amt: String(Math.floor((amount + fee) / 1000)),
    hops: [hop],
    total_fees_msat: String(fee),
    total_amt_msat: String(amount + fee),
    first_hop_amount_msat: String(amount + fee),
  };
  send(
    {
      ...base,
      status: 'IN_FLIGHT',
      fee_msat: String(fee),
      payment_preimage: '',
      failure_reason: 'FAILURE_REASON_NONE',
      htlcs: [{ attempt_id: '1', status: 'IN_FLIGHT', route, attempt_time_ns: created, resolve_time_ns: created }],
    },
    false,
  );
  if (s.knobs.holdPayments) await new Promise<void>((r) => s.held.push(r));
  let preimage: string;
  try {
    const payee = s.net.reach(s.node, d.payee);
    if (keysend) {
      // The payee fails a keysend it does not take, or whose preimage is not the hash's, as unknown details.
      if (!payee.receiveKeysend || keysend.preimage === undefined) throw new PayFailure('unknown_hash');
      payee.receiveKeysend(keysend.preimage, amount);
      preimage = keysend.preimage;
    } else preimage = payee.receive(d.hash, amount);
  } catch (err) {
    const kind = (err as PayFailure).kind;
    return failed(kind === 'no_route' ? 'FAILURE_REASON_NO_ROUTE' : 'FAILURE_REASON_INCORRECT_PAYMENT_DETAILS');
  }
  const now = String(BigInt(Date.now()) * 1_000_000n);
  send(
    {
      ...base,
      status: 'SUCCEEDED',
      fee_msat: String(fee),
      fee_sat: String(Math.floor(fee / 1000)),
      payment_preimage: preimage,
      failure_reason: 'FAILURE_REASON_NONE',
      htlcs: [{ attempt_id: '1', status: 'SUCCEEDED', route, attempt_time_ns: created, resolve_time_ns: now, preimage: Buffer.from(preimage, 'hex') }],
    },
    true,
  );
}

/** LND's keysend custom record (record.KeySendType). */
const KEYSEND_RECORD = '5482373484';

/** A keysend request's payee, hash and amount, and its preimage when the record holds the hash's preimage. */
function keysendOf(req: Obj): { payee: string; hash: string; amountMsat: null; preimage: string | undefined } {
  // protobufjs keys a map by a 64-bit integer as its 8 bytes (little-endian) in a string: read back as the number.
  const records = new Map(
    Object.entries((req.dest_custom_records ?? {}) as Record<string, Buffer>).map(([k, v]) => [
      /^\d+$/.test(k) ? k : [...k].reduceRight((n, c) => (n << 8n) | BigInt(c.charCodeAt(0)), 0n).toString(),
      v,
    ]),
  );
  const pre = records.get(KEYSEND_RECORD);
  const hash = Buffer.from((req.payment_hash as Buffer | undefined) ?? []).toString('hex');
  const matches = pre !== undefined && createHash('sha256').update(pre).digest('hex') === hash;
  return { payee: Buffer.from(req.dest as Buffer).toString('hex'), hash, amountMsat: null, preimage: matches ? Buffer.from(pre).toString('hex') : undefined };
}

/** EstimateRouteFee for a payment request: the network's flat fee when the payee is reachable. */
function estimateRouteFee(s: LndState, req: Obj): Obj {
  let d;
  try {
    d = decodeInvoice(String(req.payment_request));
  } catch (err) {
    throw new Fail(grpc.status.UNKNOWN, `invalid payment request: ${(err as Error).message}`);
  }
  try {
    s.net.reach(s.node, d.payee);
  } catch {
    return { routing_fee_msat: '0', time_lock_delay: '0', failure_reason: 'FAILURE_REASON_NO_ROUTE' };
  }
  return { routing_fee_msat: String(feeFor(d.amountMsat ?? 0)), time_lock_delay: '58', failure_reason: 'FAILURE_REASON_NONE' };
}

/** TrackPaymentV2: the payment's latest state; LND answers NOT_FOUND for a hash it never paid. */
function trackPayment(s: LndState, call: grpc.ServerWritableStream<Obj, Obj>): void {
  const msg = s.payments.get(Buffer.from(call.request.payment_hash as Buffer).toString('hex'));
  if (!msg) return failStream(call, grpc.status.NOT_FOUND, "payment isn't initiated");
  call.write(msg);
  call.end();
}
