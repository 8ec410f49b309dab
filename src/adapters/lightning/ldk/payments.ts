// Invoices and payments on the embedded node. LDK makes invoices statelessly (the payment secret and preimage come
// from its own key), so anyad's records (records.ts) are the list of invoices; LDK tells what was received
// (PaymentClaimable: claimed at once; PaymentClaimed: the invoice is paid) and how a payment of ours ended
// (PaymentSent, PaymentFailed). Each outcome is written before the ChannelManager that raised it (node.ts waits for
// `pendingWrites` before writing it), so after a crash LDK raises the event again and it is recorded once: an
// invoice already paid, or a payment already written, is not reported twice.

import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import * as ldk from 'lightningdevkit';
import { parsePaymentRequest } from 'invoices';
import { rpcError } from '../../../core/errors.js';
import type { RoomDb, Store } from '../../../core/store.js';
import { PaymentInFlight, type KeysendRequest, type LnDecoded, type PaymentState, type PayRequest, type PayResult } from '../backend.js';
import type { LnRecords } from '../records.js';
import type { LdkNode } from './node.js';
import { hex } from './wasm.js';

const OUTCOME = 'ldk-node:outcome:';
/** LDK's own retries of a payment over other routes before it gives up. */
const RETRIES = 3;
/** The final CLTV delta a keysend asks of the payee: LDK's MIN_FINAL_CLTV_EXPIRY_DELTA plus margin, as LND's default of 40. */
const KEYSEND_CLTV_DELTA = 40;

interface Outcome {
  status: 'complete' | 'failed';
  preimage?: string;
  amount_msat?: number;
  fee_msat?: number;
  reason?: string;
}

export class LdkPayments {
  node: LdkNode | undefined;
  /** Pay calls waiting for LDK's word on their payment; undefined: the time limit came first. */
  private readonly waiting = new Map<string, { resolve(o: Outcome | undefined): void }>();
  /** Received payments are recorded one after another (each takes the next settle index). */
  private claims: Promise<void> = Promise.resolve();
  /** Writes an event started: the manager is written only after them (node.ts). */
  private readonly writes = new Set<Promise<void>>();

  constructor(private readonly o: { db: RoomDb; store: Store; records: LnRecords; log: Logger }) {}

  pendingWrites(): Promise<unknown> {
    return Promise.allSettled([...this.writes]);
  }

  private write(p: Promise<void>): void {
    const w = p.catch((err: Error) => this.o.log.error({ reason: err.message }, 'recording an LDK payment event failed'));
    this.writes.add(w);
    void w.finally(() => this.writes.delete(w));
  }

  createInvoice(n: LdkNode, amountMsat: number | null, description: string, expiry: number): { payment_hash: string; bolt11: string; expires_at: number } {
    const d = ldk.Description.constructor_new(description);
    if (!(d instanceof ldk.Result_DescriptionCreationErrorZ_OK)) throw rpcError('InvalidParams', 'description: too long for a BOLT11 invoice');
    const r = n.cm.create_bolt11_invoice(
      amountMsat === null ? ldk.Option_u64Z.constructor_none() : ldk.Option_u64Z.constructor_some(BigInt(amountMsat)),
      ldk.Bolt11InvoiceDescription.constructor_direct(d.res),
      ldk.Option_u32Z.constructor_some(expiry),
      ldk.Option_u16Z.constructor_none(),
      ldk.Option_ThirtyTwoBytesZ.constructor_none(),
    );
    if (!(r instanceof ldk.Result_Bolt11InvoiceSignOrCreationErrorZ_OK)) throw rpcError('BackendRejected', 'LDK could not make the invoice');
    const inv = r.res;
    return { payment_hash: hex(inv.payment_hash()), bolt11: inv.to_str(), expires_at: Number(inv.duration_since_epoch() + inv.expiry_time()) };
  }

  decode(invoice: string): LnDecoded {
    const p = parsePaymentRequest({ request: invoice });
    return {
      payment_hash: p.id,
      payee: p.destination,
      amount_msat: p.mtokens === undefined ? null : Number(p.mtokens),
      description: p.description ?? '',
      created_at: Math.floor(Date.parse(p.created_at) / 1000),
      expires_at: Math.floor(Date.parse(p.expires_at) / 1000),
    };
  }

  /** Pays through LDK (the payment id is the payment hash: one payment per invoice); answers once LDK says how it ended. */
  async pay(n: LdkNode, req: PayRequest): Promise<PayResult> {
    const parsed = ldk.Bolt11Invoice.constructor_from_str(req.invoice);
    if (!(parsed instanceof ldk.Result_Bolt11InvoiceParseOrSemanticErrorZ_OK)) throw rpcError('InvalidParams', 'invoice: LDK cannot read it');
    const inv = parsed.res;
    if (!(inv.amount_milli_satoshis() instanceof ldk.Option_u64Z_Some))
      throw rpcError('Unsupported', 'an invoice without an amount cannot be paid on the ldk backend yet');
    const params = ldk.UtilMethods.constructor_payment_parameters_from_invoice(inv);
    if (!(params instanceof ldk.Result_C3Tuple_ThirtyTwoBytesRecipientOnionFieldsRouteParametersZNoneZ_OK))
      throw rpcError('InvalidParams', 'invoice: no payment of it can be made');
    const hash = params.res.get_a();
    const route = params.res.get_c();
    if (req.max_fee_msat !== undefined) route.set_max_total_routing_fee_msat(ldk.Option_u64Z.constructor_some(BigInt(req.max_fee_msat)));
    const key = hex(hash);
    const amount = Number(route.get_final_value_msat());
    return this.sendAndWait(n, key, amount, req.timeout, () =>
      n.cm.send_payment(hash, params.res.get_b(), hash, route, ldk.Retry.constructor_attempts(RETRIES)),
    );
  }

  /**
   * Keysend: the preimage (anyad's) goes in the onion, the payment id is its hash as for invoices, so a restart finds
   * the payment the same way. LDK's route to a keysend payee needs no invoice features beyond the payee's id.
   */
  async keysend(n: LdkNode, req: KeysendRequest): Promise<PayResult> {
    const preimage = Buffer.from(req.preimage, 'hex');
    const hash = createHash('sha256').update(preimage).digest();
    const params = ldk.PaymentParameters.constructor_for_keysend(Buffer.from(req.destination, 'hex'), KEYSEND_CLTV_DELTA, false);
    const route = ldk.RouteParameters.constructor_from_payment_params_and_value(params, BigInt(req.amount_msat));
    if (req.max_fee_msat !== undefined) route.set_max_total_routing_fee_msat(ldk.Option_u64Z.constructor_some(BigInt(req.max_fee_msat)));
    return this.sendAndWait(n, hex(hash), req.amount_msat, req.timeout, () =>
      n.cm.send_spontaneous_payment(
        ldk.Option_ThirtyTwoBytesZ.constructor_some(preimage),
        ldk.RecipientOnionFields.constructor_spontaneous_empty(),
        hash,
        route,
        ldk.Retry.constructor_attempts(RETRIES),
      ),
    );
  }

  /** Hands a payment to LDK and waits for its PaymentSent or PaymentFailed (or the time limit). */
  private async sendAndWait(
    n: LdkNode,
    key: string,
    amountMsat: number,
    timeout: number,
    send: () => ldk.Result_NoneRetryableSendFailureZ | ldk.Result_ThirtyTwoBytesRetryableSendFailureZ,
  ): Promise<PayResult> {
    const done = new Promise<Outcome | undefined>((resolve) => this.waiting.set(key, { resolve }));
    const r = send();
    if (r instanceof ldk.Result_NoneRetryableSendFailureZ_Err || r instanceof ldk.Result_ThirtyTwoBytesRetryableSendFailureZ_Err) {
      this.waiting.delete(key);
      const why = ldk.RetryableSendFailure[r.err] ?? String(r.err);
      throw rpcError('BackendRejected', `LDK did not send the payment: ${why}`, {
        kind: /RouteNotFound/.test(why) ? 'no_route' : /Duplicate/.test(why) ? 'already_paid' : undefined,
      });
    }
    void n.kick();
    // The time limit ends the wait, not the payment: LDK may still complete it (a hop holding the HTLC), so it is
    // answered as in flight and its record stays pending until LDK's own event says how it ended (reconcile).
    const timer = setTimeout(() => this.waiting.get(key)?.resolve(undefined), timeout * 1000);
    try {
      const o = await done;
      if (!o) throw new PaymentInFlight(`the payment of ${key} is still in flight after ${timeout} s`);
      if (o.status === 'failed')
        throw rpcError('BackendRejected', `the payment failed: ${o.reason}`, { kind: /Route/.test(o.reason ?? '') ? 'no_route' : undefined });
      return { payment_hash: key, amount_msat: amountMsat, fee_msat: o.fee_msat ?? 0, preimage: o.preimage! };
    } finally {
      clearTimeout(timer);
      this.waiting.delete(key);
    }
  }

  /** How LDK's payment of this hash stands: its written outcome, or LDK's list of payments in flight. */
  async paymentState(n: LdkNode, hash: string): Promise<PaymentState | undefined> {
    const o = (await this.o.db.get(OUTCOME + hash)) as Outcome | undefined;
    if (o) return { status: o.status, ...(o.preimage ? { preimage: o.preimage } : {}), ...(o.fee_msat !== undefined ? { fee_msat: o.fee_msat } : {}) };
    // Any payment LDK still lists is pending here: one it lists as fulfilled or abandoned has its event (and the
    // outcome written from it) on the way; answering "no such payment" then would record a paid invoice as failed.
    const known = n.cm
      .list_recent_payments()
      .some(
        (p) =>
          (p instanceof ldk.RecentPaymentDetails_Pending ||
            p instanceof ldk.RecentPaymentDetails_Fulfilled ||
            p instanceof ldk.RecentPaymentDetails_Abandoned) &&
          hex(p.payment_id) === hash,
      );
    return known ? { status: 'pending' } : undefined;
  }

  /** LDK's payment events; false for the others. */
  onEvent(e: ldk.Event): boolean {
    const n = this.node;
    if (e instanceof ldk.Event_PaymentClaimable) {
      const pre = e.purpose.preimage();
      // Invoices are all LDK's own, so it knows each preimage; one it does not know is not ours to claim.
      if (pre instanceof ldk.Option_ThirtyTwoBytesZ_Some) n?.cm.claim_funds(pre.some);
      else n?.cm.fail_htlc_backwards(e.payment_hash);
      return true;
    }
    if (e instanceof ldk.Event_PaymentClaimed) {
      const hash = hex(e.payment_hash);
      const amount = Number(e.amount_msat);
      const keysend = e.purpose instanceof ldk.PaymentPurpose_SpontaneousPayment;
      // One after another: each reads the settle cursor and writes the next one.
      const run = this.claims.then(() => this.claimed(hash, amount, keysend));
      this.claims = run.catch(() => undefined);
      this.write(run);
      return true;
    }
    if (e instanceof ldk.Event_PaymentSent) {
      const fee = e.fee_paid_msat instanceof ldk.Option_u64Z_Some ? Number(e.fee_paid_msat.some) : 0;
      this.settle(hex(e.payment_hash), { status: 'complete', preimage: hex(e.payment_preimage), fee_msat: fee });
      return true;
    }
    if (e instanceof ldk.Event_PaymentFailed) {
      const hash = e.payment_hash instanceof ldk.Option_ThirtyTwoBytesZ_Some ? hex(e.payment_hash.some) : hex(e.payment_id);
      const reason = e.reason instanceof ldk.Option_PaymentFailureReasonZ_Some ? ldk.PaymentFailureReason[e.reason.some] : 'unknown';
      this.settle(hash, { status: 'failed', reason: String(reason).replace(/^LDKPaymentFailureReason_/, '') });
      return true;
    }
    return e instanceof ldk.Event_PaymentPathSuccessful || e instanceof ldk.Event_PaymentPathFailed;
  }

  /** Records the outcome (durably, before the manager moves on) and hands it to the pay call waiting for it. */
  private settle(hash: string, o: Outcome): void {
    this.write(this.o.store.batch([{ type: 'put', sublevel: this.o.db, key: OUTCOME + hash, value: o }]));
    this.waiting.get(hash)?.resolve(o);
  }

  /** An invoice paid to us: its record and ln.invoice settled, once (LDK raises the event again after a crash). */
  private async claimed(hash: string, amountMsat: number, keysend: boolean): Promise<void> {
    const known = await this.o.records.invoice(hash);
    if (known?.status === 'paid') return;
    // A keysend has no invoice of ours: its record is written first, so an event raised again after a crash finds
    // it paid and is not reported twice. (An invoice payment without a record, one dropped with -acceptstate, is
    // reported but not made a record of here.)
    if (!known && keysend) {
      const now = Math.floor(Date.now() / 1000);
      await this.o.records.saveInvoice({
        payment_hash: hash,
        bolt11: '',
        label: '',
        description: '',
        amount_msat: null,
        status: 'unpaid',
        created_at: now,
        expires_at: now,
        keysend: true,
      });
    }
    const index = ((await this.o.records.cursor('settle_index')) ?? 0) + 1;
    await this.o.records.settled({ payment_hash: hash, paid_at: Math.floor(Date.now() / 1000), amount_received_msat: amountMsat }, 'settle_index', index);
  }
}
