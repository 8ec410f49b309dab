// A tamper-evident audit log of every key event, in the hsm sublevel. Each entry carries its sequence number and
// the hash of the previous entry, and its own hash covers both: a changed, removed or reordered entry breaks the
// chain at a place verify() names. The head (last sequence and hash) is kept too, so a cut-off tail shows.

import { createHash } from 'node:crypto';
import type { BatchOp, RoomDb } from '../store/store.js';

export interface AuditEntry {
  seq: number;
  time: string;
  event: 'generate' | 'sign' | 'deny' | 'disable' | 'rotate' | 'unlock' | 'lock' | 'policy' | 'create';
  key: string | null;
  detail: Record<string, unknown>;
  prev: string;
  hash: string;
}

const GENESIS = '0'.repeat(64);
const seqKey = (n: number): string => `a:${String(n).padStart(12, '0')}`;

function entryHash(e: Omit<AuditEntry, 'hash'>): string {
  return createHash('sha256').update(JSON.stringify([e.seq, e.time, e.event, e.key, e.detail, e.prev])).digest('hex');
}

export class AuditLog {
  private head: { seq: number; hash: string } = { seq: 0, hash: GENESIS };
  /** Appends are serialized so sequence numbers never collide. */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly db: RoomDb) {}

  async load(): Promise<void> {
    this.head = ((await this.db.get('a:head')) as { seq: number; hash: string } | undefined) ?? { seq: 0, hash: GENESIS };
  }

  /**
   * The operations that append an entry; the caller writes them in the same batch as the change they record, so
   * an event and its audit entry exist together or not at all.
   */
  append(event: AuditEntry['event'], key: string | null, detail: Record<string, unknown>, write: (ops: BatchOp[]) => Promise<void>, extra: BatchOp[] = []): Promise<AuditEntry> {
    const run = async (): Promise<AuditEntry> => {
      const base = { seq: this.head.seq + 1, time: new Date().toISOString(), event, key, detail, prev: this.head.hash };
      const entry: AuditEntry = { ...base, hash: entryHash(base) };
      await write([...extra, { type: 'put', sublevel: this.db, key: seqKey(entry.seq), value: entry }, { type: 'put', sublevel: this.db, key: 'a:head', value: { seq: entry.seq, hash: entry.hash } }]);
      this.head = { seq: entry.seq, hash: entry.hash };
      return entry;
    };
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  /** Entries appended so far (the head's sequence number). */
  count(): number {
    return this.head.seq;
  }

  async page(from: number, limit: number): Promise<AuditEntry[]> {
    const out: AuditEntry[] = [];
    for await (const [, v] of this.db.iterator({ gte: seqKey(from), lt: 'a:999999999999~', limit })) out.push(v as AuditEntry);
    return out;
  }

  /** Walks the whole log; answers where the first break is. */
  async verify(): Promise<{ ok: boolean; entries: number; problem?: { seq: number; reason: string } }> {
    let prev = GENESIS;
    let expect = 1;
    let n = 0;
    for await (const [k, v] of this.db.iterator({ gte: 'a:000000000000', lt: 'a:999999999999~' })) {
      const e = v as AuditEntry;
      n++;
      const at = Number(k.slice(2));
      if (e.seq !== at) return { ok: false, entries: n, problem: { seq: at, reason: `entry stored at ${at} says it is ${e.seq}: moved or reordered` } };
      if (e.seq !== expect) return { ok: false, entries: n, problem: { seq: expect, reason: `entry ${expect} is missing (next found is ${e.seq})` } };
      if (e.prev !== prev) return { ok: false, entries: n, problem: { seq: e.seq, reason: `entry ${e.seq} does not follow entry ${e.seq - 1} (previous hash differs): reordered or an earlier entry was replaced` } };
      const { hash, ...rest } = e;
      if (entryHash(rest) !== hash) return { ok: false, entries: n, problem: { seq: e.seq, reason: `entry ${e.seq} was changed (its hash does not match its content)` } };
      prev = hash;
      expect++;
    }
    const head = (await this.db.get('a:head')) as { seq: number; hash: string } | undefined;
    if (head && (head.seq !== expect - 1 || head.hash !== prev)) return { ok: false, entries: n, problem: { seq: expect, reason: `the log ends at ${expect - 1} but its head says ${head.seq}: entries were removed from the end` } };
    return { ok: true, entries: n };
  }
}
