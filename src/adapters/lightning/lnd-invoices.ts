// LND's invoices: creating, looking up and decoding them, and reporting every invoice created and settled exactly
// once, from LND's own record (the reconciliation from ListInvoices and the SubscribeInvoices stream).
//
// Events come from LND's own record, not from stream order. LND's SubscribeInvoices backlog
// (invoices/invoiceregistry.go, deliverBacklogEvents) sends the invoices added since add_index first, each in its
// current state, then those settled since settle_index; an index of 0 replays nothing (channeldb's
// InvoicesAddedSince / InvoicesSettledSince keep that for backwards compatibility); live events are filtered per
// client by the indexes it was last sent (dispatchToClients), and a live event during the backlog can come twice.
// So a stream can show a newer settlement before an older one, or none at all for a first settlement. anyad
// therefore keeps cursors meaning "everything up to here was reported" (add_index, settle_index) and:
// - on every (re)connect, before the stream, reconciles from ListInvoices (paged by add_index, from the oldest
//   invoice that was still open last time): every invoice added after the add cursor is reported created, in
//   add_index order, then every invoice settled after the settle cursor is reported settled, in settle_index order;
// - on the stream, takes an event only when its index is the cursor + 1; a duplicate is dropped; a gap (an index
//   further on) reconciles from ListInvoices again before going on.
// On the first start the cursors are set to LND's newest add and settle indexes (history before anyad is not
// reported).

import type * as Ln from 'ln-service';
import type { Logger } from 'pino';
import { RpcError } from '../../core/errors.js';
import type { InvoiceRecord, LnDecoded, NewInvoice } from './backend.js';
import { epoch, ln, num, type LndConnection } from './lnd-connection.js';
import type { LnRecords } from './records.js';

/** What the invoice functions work with: the connection, the backend's records and its log. */
export interface LndInvoiceContext {
  conn: LndConnection;
  records: LnRecords;
  log: Logger;
}

/** LND's Invoice message as ListInvoices answers it (proto-loader: longs as strings, bytes as Buffers). */
interface RawInvoice {
  r_hash: Buffer;
  value_msat: string;
  amt_paid_msat: string;
  settle_date: string;
  add_index: string;
  settle_index: string;
  state: 'OPEN' | 'SETTLED' | 'CANCELED' | 'ACCEPTED';
}
const INVOICE_PAGE = 1000;
const hashOf = (i: RawInvoice): string => Buffer.from(i.r_hash).toString('hex');

/**
 * Lightning.ListInvoices forward from an add index. ln-service's getInvoices pages newest first only, so this uses
 * the gRPC client ln-service exposes as lnd.default (the same channel and macaroon).
 */
function listInvoicesRaw(
  lnd: Ln.AuthenticatedLnd,
  req: { index_offset: string; num_max_invoices: string; reversed: boolean },
): Promise<{ invoices: RawInvoice[]; last_index_offset: string }> {
  const client = (
    lnd as unknown as { default: { listInvoices(r: object, cb: (err: unknown, res: { invoices: RawInvoice[]; last_index_offset: string }) => void): void } }
  ).default;
  return new Promise((resolve, reject) => client.listInvoices(req, (err, res) => (err ? reject(err) : resolve(res))));
}

/** Every invoice with add_index > after, oldest first, from LND's ListInvoices (paged). */
async function invoicesAfter(conn: LndConnection, after: number): Promise<RawInvoice[]> {
  const out: RawInvoice[] = [];
  for (let offset = after; ;) {
    const page = await conn.timed(listInvoicesRaw(conn.lnd!, { index_offset: String(offset), num_max_invoices: String(INVOICE_PAGE), reversed: false }));
    out.push(...page.invoices);
    const last = Number(page.last_index_offset);
    if (page.invoices.length < INVOICE_PAGE || !(last > offset)) return out;
    offset = last;
  }
}

/**
 * Reports, from LND's record, every invoice created after the add cursor and settled after the settle cursor, in
 * index order; the cursors move with each report. Scans from the oldest invoice that was still open at the last
 * reconciliation (only an open invoice can settle later). Serialized with the stream's handling.
 */
export async function reconcile({ conn, records, log }: LndInvoiceContext): Promise<void> {
  const add = await records.cursor('add_index');
  let settle = await records.cursor('settle_index');
  const floor = (await records.cursor('open_floor')) ?? 1;
  const first = add === undefined;
  const all = await invoicesAfter(conn, first ? 0 : Math.max(0, Math.min(floor, add + 1) - 1));
  const maxAdd = all.reduce((m, i) => Math.max(m, Number(i.add_index)), add ?? 0);
  const maxSettle = all.reduce((m, i) => Math.max(m, Number(i.settle_index)), settle ?? 0);
  const open = all.filter((i) => i.state === 'OPEN' || i.state === 'ACCEPTED').map((i) => Number(i.add_index));
  const nextFloor = open.length > 0 ? Math.min(...open) : maxAdd + 1;
  if (first) {
    // First start: from now on; history before anyad is not replayed.
    await records.setCursor('add_index', maxAdd);
    await records.setCursor('settle_index', maxSettle);
    await records.setCursor('open_floor', nextFloor);
    log.info({ add_index: maxAdd, settle_index: maxSettle }, 'LND invoices followed from now on');
    return;
  }
  if (settle === undefined) {
    // State from a build that kept no settle cursor until a first settlement: settlements follow from now on.
    settle = maxSettle;
    await records.setCursor('settle_index', settle);
    log.warn({ settle_index: settle }, 'no LND settle cursor was kept by the previous build; settlements are followed from now on');
  }
  for (const i of all.filter((x) => Number(x.add_index) > add).sort((a, b) => Number(a.add_index) - Number(b.add_index))) {
    await records.created({ payment_hash: hashOf(i), amount_msat: Number(i.value_msat) || null }, 'add_index', Number(i.add_index));
  }
  const from = settle;
  for (const i of all.filter((x) => Number(x.settle_index) > from).sort((a, b) => Number(a.settle_index) - Number(b.settle_index))) {
    await records.settled(
      { payment_hash: hashOf(i), paid_at: Number(i.settle_date), amount_received_msat: Number(i.amt_paid_msat) },
      'settle_index',
      Number(i.settle_index),
    );
  }
  // Cancellations have no index of their own: anyad's own records follow the node's (each reported once).
  for (const i of all.filter((x) => x.state === 'CANCELED')) {
    const known = await records.invoice(hashOf(i));
    if (known && known.status !== 'canceled') await records.canceled(hashOf(i));
  }
  await records.setCursor('open_floor', nextFloor);
}

/**
 * One SubscribeInvoices stream from the cursors. An event is reported only when its index is the next one; a
 * duplicate is dropped and a gap reconciles from LND's record. Resolves when stopped, rejects when it fails.
 * `running` says whether the backend is still open; `attached` runs once the stream is open.
 */
export async function stream(cx: LndInvoiceContext, hooks: { running: () => boolean; attached: () => Promise<void> }): Promise<void> {
  const { conn, records } = cx;
  let lastAdd = (await records.cursor('add_index')) ?? 0;
  let lastSettle = (await records.cursor('settle_index')) ?? 0;
  // Closed while the attach was under way (a stop right after the start): no stream to open, nothing to wait for.
  if (!hooks.running()) return;
  return new Promise<void>((resolve, reject) => {
    let queue = Promise.resolve();
    // ln-service's own restarts are pushed out of the way (this loop restarts, reconciling first).
    const sub = ln().subscribeToInvoices({
      lnd: conn.lnd!,
      ...(lastAdd > 0 ? { added_after: lastAdd } : {}),
      ...(lastSettle > 0 ? { confirmed_after: lastSettle } : {}),
      restart_delay_ms: 3_600_000,
    });
    const end = (err?: unknown): void => {
      conn.stopStream = undefined;
      conn.streaming = false;
      sub.removeAllListeners();
      void queue.then(() => (err === undefined ? resolve() : reject(err)), reject);
    };
    conn.stopStream = () => end();
    const catchUp = async (): Promise<void> => {
      await reconcile(cx);
      lastAdd = (await records.cursor('add_index')) ?? lastAdd;
      lastSettle = (await records.cursor('settle_index')) ?? lastSettle;
    };
    sub.on('invoice_updated', (inv: Ln.LndInvoice) => {
      queue = queue.then(async () => {
        if (inv.index === lastAdd + 1) {
          lastAdd = inv.index;
          await records.created({ payment_hash: inv.id, amount_msat: num(inv.mtokens) || null }, 'add_index', inv.index);
        } else if (inv.index > lastAdd + 1) return catchUp();
        if (inv.is_confirmed && inv.confirmed_index !== undefined) {
          if (inv.confirmed_index === lastSettle + 1) {
            lastSettle = inv.confirmed_index;
            await records.settled(
              { payment_hash: inv.id, paid_at: epoch(inv.confirmed_at), amount_received_msat: num(inv.received_mtokens) },
              'settle_index',
              inv.confirmed_index,
            );
          } else if (inv.confirmed_index > lastSettle + 1) return catchUp();
        } else if (inv.is_canceled) {
          await records.canceled(inv.id);
        }
        return undefined;
      });
      queue.catch((err: unknown) => end(err));
    });
    sub.on('error', (err: unknown) => end(err));
    sub.on('end', () => end(new Error('LND ended the invoice subscription')));
    // Attached, after the reconciliation: only now is the backend ok (an invoice made before is in the record).
    void hooks.attached();
  });
}

export async function createInvoice(conn: LndConnection, req: NewInvoice): Promise<{ payment_hash: string; bolt11: string; expires_at: number }> {
  // LND has no invoice labels: the label lives only in anyad's record.
  const expiresAt = Math.floor(Date.now() / 1000) + req.expiry;
  const r = await conn.call((lnd) =>
    ln().createInvoice({
      lnd,
      description: req.description,
      ...(req.amount_msat !== null ? { mtokens: String(req.amount_msat) } : {}),
      expires_at: new Date(expiresAt * 1000).toISOString(),
    }),
  );
  return { payment_hash: r.id, bolt11: r.request, expires_at: expiresAt };
}

export async function lookupInvoice({ conn, records }: LndInvoiceContext, paymentHash: string): Promise<InvoiceRecord | undefined> {
  let i: Ln.LndInvoice;
  try {
    i = await conn.call((lnd) => ln().getInvoice({ lnd, id: paymentHash }));
  } catch (err) {
    if (err instanceof RpcError && /unable to locate invoice/.test(err.message)) return undefined;
    throw err;
  }
  const known = await records.invoice(paymentHash);
  const expiresAt = epoch(i.expires_at);
  const status: InvoiceRecord['status'] = i.is_confirmed ? 'paid' : i.is_canceled ? 'canceled' : expiresAt <= Date.now() / 1000 ? 'expired' : 'unpaid';
  return {
    payment_hash: i.id,
    bolt11: i.request ?? '',
    label: known?.label ?? '',
    description: i.description,
    amount_msat: num(i.mtokens) || null,
    status,
    created_at: epoch(i.created_at),
    expires_at: expiresAt,
    ...(i.is_confirmed ? { paid_at: epoch(i.confirmed_at), amount_received_msat: num(i.received_mtokens) } : {}),
    ...(i.is_push ? { keysend: true } : {}),
  };
}

export async function decode(conn: LndConnection, invoice: string): Promise<LnDecoded> {
  const d = await conn.call((lnd) => ln().decodePaymentRequest({ lnd, request: invoice }));
  return {
    payment_hash: d.id,
    payee: d.destination,
    amount_msat: num(d.mtokens) || null,
    description: d.description ?? '',
    created_at: epoch(d.created_at),
    expires_at: epoch(d.expires_at),
  };
}
