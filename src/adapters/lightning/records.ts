// Invoices and payments made through anyad, and each backend's event cursors, in the lightning room's sublevel.
// Keys start with the backend ("cln:inv:<hash>", "lnd:cursor:settle_index"), so two backends never mix. A settled
// invoice's record and the cursor past it are written in one synced batch before the event is published: after a
// crash either both are there (the event is not repeated) or neither (the backend replays it).

import type { EventBus } from '../../core/events.js';
import type { BatchOp, Migration, RoomDb, Store } from '../../core/store.js';
import type { BackendName, InvoiceRecord, PaymentRecord } from './backend.js';
import { LN_INVOICE } from './topics.js';

/** Newest first, one page (records without a creation time last). */
export function newestFirst<T extends { created_at: number | null }>(all: T[], limit: number, offset: number): { total: number; items: T[] } {
  const sorted = [...all].sort((a, b) => (b.created_at ?? 0) - (a.created_at ?? 0));
  return { total: all.length, items: sorted.slice(offset, offset + limit) };
}

export interface Settlement {
  payment_hash: string;
  /** The node's label (Core Lightning), when anyad has no record of the invoice. */
  label?: string;
  paid_at?: number;
  amount_received_msat?: number;
}

export class LnRecords {
  private readonly db: RoomDb;
  private readonly store: Store;
  private readonly bus: EventBus;
  readonly backend: BackendName;

  constructor(opts: { db: RoomDb; store: Store; bus: EventBus; backend: BackendName }) {
    this.db = opts.db;
    this.store = opts.store;
    this.bus = opts.bus;
    this.backend = opts.backend;
  }

  /** Payment hashes this process is paying right now (their pending records are not stale). */
  readonly paying = new Set<string>();

  private key(kind: 'inv' | 'pay' | 'cursor' | 'pending' | 'reseal', id: string): string {
    return `${this.backend}:${kind}:${id}`;
  }

  private readonly inflight = new Set<Promise<unknown>>();
  /** False when the node cannot tell anyad about new invoices (lightningd before v23.08): ln.createinvoice then says so itself. */
  followsCreated = true;

  /** The cursor's value, or undefined before the first start set it. */
  async cursor(name: string): Promise<number | undefined> {
    return (await this.db.get(this.key('cursor', name))) as number | undefined;
  }

  /** Every cursor of this backend, for l2.list (where an operator can see how far anyad has followed the node). */
  async cursors(): Promise<Record<string, number>> {
    const prefix = `${this.backend}:cursor:`;
    const out: Record<string, number> = {};
    for await (const [k, v] of this.db.iterator({ gte: prefix, lt: `${prefix}\xff` })) out[k.slice(prefix.length)] = v as number;
    return out;
  }

  async setCursor(name: string, value: number): Promise<void> {
    await this.store.batch([{ type: 'put', sublevel: this.db, key: this.key('cursor', name), value }]);
  }

  /** Tracks an invoice being created through anyad, so its created event waits for anyad's record (and label). */
  track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    void p.then(
      () => this.inflight.delete(p),
      () => this.inflight.delete(p),
    );
    return p;
  }

  /** Moves the created cursor past an invoice the node made (through anyad or not) and publishes ln.invoice created. */
  async created(c: { payment_hash: string; label?: string; amount_msat: number | null }, cursorName: string, cursorValue: number): Promise<void> {
    await Promise.allSettled([...this.inflight]);
    const known = await this.invoice(c.payment_hash);
    await this.setCursor(cursorName, cursorValue);
    this.bus.publish(LN_INVOICE, {
      backend: this.backend,
      status: 'created',
      payment_hash: c.payment_hash,
      label: known?.label ?? c.label ?? '',
      amount_msat: c.amount_msat,
      [cursorName]: cursorValue,
    });
  }

  async invoice(hash: string): Promise<InvoiceRecord | undefined> {
    return (await this.db.get(this.key('inv', hash))) as InvoiceRecord | undefined;
  }

  async payment(hash: string): Promise<PaymentRecord | undefined> {
    return (await this.db.get(this.key('pay', hash))) as PaymentRecord | undefined;
  }

  async saveInvoice(r: InvoiceRecord): Promise<void> {
    await this.store.batch([{ type: 'put', sublevel: this.db, key: this.key('inv', r.payment_hash), value: r }]);
  }

  /**
   * Writes a payment record; pending ones are also indexed, so finding them does not read every record, and so are
   * complete ones whose preimage waits to be sealed (`reseal`, preimages.ts), in the same batch.
   */
  async savePayment(r: PaymentRecord, reseal = false): Promise<void> {
    const index = (kind: 'pending' | 'reseal', on: boolean): BatchOp =>
      on
        ? { type: 'put', sublevel: this.db, key: this.key(kind, r.payment_hash), value: 1 }
        : { type: 'del', sublevel: this.db, key: this.key(kind, r.payment_hash) };
    await this.store.batch([
      { type: 'put', sublevel: this.db, key: this.key('pay', r.payment_hash), value: r },
      index('pending', r.status === 'pending'),
      index('reseal', reseal),
    ]);
  }

  /** Payment hashes whose preimage waits to be sealed (or, without an HSM room, a clear copy to be dropped). */
  async waitingReseal(): Promise<string[]> {
    const prefix = `${this.backend}:reseal:`;
    const out: string[] = [];
    for await (const k of this.db.keys({ gte: prefix, lt: `${prefix}\xff` })) out.push(k.slice(prefix.length));
    return out;
  }

  async doneResealing(hash: string): Promise<void> {
    await this.store.batch([{ type: 'del', sublevel: this.db, key: this.key('reseal', hash) }]);
  }

  async pendingPayments(): Promise<PaymentRecord[]> {
    const prefix = `${this.backend}:pending:`;
    const out: PaymentRecord[] = [];
    for await (const k of this.db.keys({ gte: prefix, lt: `${prefix}\xff` })) {
      const rec = await this.payment(k.slice(prefix.length));
      if (rec) out.push(rec);
    }
    return out;
  }

  invoices(): Promise<InvoiceRecord[]> {
    return this.list<InvoiceRecord>('inv');
  }

  payments(): Promise<PaymentRecord[]> {
    return this.list<PaymentRecord>('pay');
  }

  private async list<T>(kind: 'inv' | 'pay'): Promise<T[]> {
    const prefix = `${this.backend}:${kind}:`;
    const out: T[] = [];
    for await (const [, v] of this.db.iterator({ gte: prefix, lt: `${prefix}\xff` })) out.push(v as T);
    return out;
  }

  /**
   * Moves the cursor past a settled invoice and, if anyad made it, marks its record paid, in one batch; then publishes
   * ln.invoice settled. (Invoices made elsewhere get the event but no record: records are anyad's own.)
   */
  async settled(s: Settlement, cursorName: string, cursorValue: number): Promise<void> {
    await Promise.allSettled([...this.inflight]);
    const known = await this.invoice(s.payment_hash);
    const ops: BatchOp[] = [{ type: 'put', sublevel: this.db, key: this.key('cursor', cursorName), value: cursorValue }];
    if (known) {
      const rec: InvoiceRecord = {
        ...known,
        status: 'paid',
        ...(s.paid_at !== undefined ? { paid_at: s.paid_at } : {}),
        ...(s.amount_received_msat !== undefined ? { amount_received_msat: s.amount_received_msat } : {}),
      };
      ops.push({ type: 'put', sublevel: this.db, key: this.key('inv', s.payment_hash), value: rec });
    }
    await this.store.batch(ops);
    this.bus.publish(LN_INVOICE, {
      backend: this.backend,
      status: 'settled',
      payment_hash: s.payment_hash,
      label: known?.label ?? s.label ?? '',
      amount_received_msat: s.amount_received_msat ?? null,
      [cursorName]: cursorValue,
    });
  }

  /** An invoice the node canceled: the record (if anyad made it) follows, and ln.invoice canceled is published. */
  async canceled(hash: string): Promise<void> {
    const known = await this.invoice(hash);
    if (known?.status === 'canceled') return;
    if (known) await this.saveInvoice({ ...known, status: 'canceled' });
    this.bus.publish(LN_INVOICE, { backend: this.backend, status: 'canceled', payment_hash: hash, label: known?.label ?? '' });
  }
}

/** The lightning room's schema versions. */
export const LIGHTNING_MIGRATIONS: Migration[] = [
  {
    version: 1,
    description: "key records and cursors by backend (the first build kept Core Lightning's without a prefix); index pending payments",
    up: async (db) => {
      const ops: BatchOp[] = [];
      for await (const [k, v] of db.iterator()) {
        if (/^(inv|pay|cursor):/.test(k)) {
          ops.push({ type: 'del', sublevel: db, key: k });
          ops.push({ type: 'put', sublevel: db, key: `cln:${k}`, value: v });
          // A payment left pending by the first build joins the index reconciliation reads.
          if (k.startsWith('pay:') && (v as { status?: string }).status === 'pending')
            ops.push({ type: 'put', sublevel: db, key: `cln:pending:${k.slice(4)}`, value: 1 });
        }
      }
      return ops;
    },
  },
  {
    version: 2,
    description: 'index payment records an earlier anyad wrote with the preimage in clear, for sealing by the HSM room (issue 26)',
    // Only indexed here: a migration runs before the keystore may be unlocked, so the node watch's sweep seals them
    // (preimages.ts); until then they stay readable as they are.
    up: async (db) => {
      const ops: BatchOp[] = [];
      for await (const [k, v] of db.iterator()) {
        const m = /^(cln|lnd):pay:(.+)$/.exec(k);
        if (m && typeof (v as { preimage?: unknown }).preimage === 'string') ops.push({ type: 'put', sublevel: db, key: `${m[1]}:reseal:${m[2]}`, value: 1 });
      }
      return ops;
    },
  },
];
