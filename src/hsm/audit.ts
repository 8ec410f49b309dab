// A tamper-evident audit log of every key event, in the hsm sublevel. Each entry carries its sequence number and
// the hash of the previous entry, and its own hash covers both: a changed, removed or reordered entry breaks the
// chain at a place verify() names. Three things make it more than a checksum:
// - a MAC over the hash of the last entry of each commit, with a key that lives in the provider (a non-extractable
//   token secret; in the keystore, a key derived from the seed): whoever can rewrite LevelDB cannot recompute the
//   chain. The hash chain runs through the entries before it, so one MAC covers the whole commit (one HSM operation
//   per commit, not per entry). A keystore that has been locked since start has no key yet; its entries are covered
//   by the next keyed entry and verify() counts any unkeyed tail; with a token, an unkeyed tail is a forgery;
// - a head file outside LevelDB (sequence and hash, fsync'd with every commit), so a cut-off tail, or a restore that
//   rolls the log back, shows at the next start: it is named in the log itself (a rollback entry) and in verify();
// - the database's own head key, as before.
// What it cannot catch: someone who holds the MAC key (a root user on an unlocked keystore), or who puts back an
// older head file together with the older database it belongs to (no monotonic counter in a PKCS#11 token).
//
// Group commit: entries asked for while a commit is on its way are chained in memory and written together, one
// synced LevelDB batch and one head-file write for the whole group, and the two writes run side by side. The head
// file then names the commit in flight (`from`: the head before it), so a crash between the two writes is told
// apart from a rollback: the database is either at `from` (the commit never finished, nothing of it was answered)
// or at the new head. Every caller is answered only after both writes are durable, so a signature still leaves
// anyad only after its audit entry is on disk. Right after answering, the head file is rewritten without `from`
// (no fsync: it guards against a restore or an edit, which leave the page cache alone; after a power cut the
// in-flight record is the truth), so a later rollback of exactly the last commit is caught too.

import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { BatchOp, RoomDb } from '../store/store.js';

export interface AuditEntry {
  seq: number;
  time: string;
  event:
    | 'generate'
    | 'sign'
    | 'sign_failed'
    | 'deny'
    | 'disable'
    | 'rotate'
    | 'unlock'
    | 'lock'
    | 'policy'
    | 'policy_pending'
    | 'policy_effective'
    | 'policy_cancelled'
    | 'create'
    | 'rollback'
    | 'orphan';
  key: string | null;
  detail: Record<string, unknown>;
  prev: string;
  hash: string;
  /** HMAC-SHA256 of the hash with the provider's audit key, hex; null when the key was out of reach. */
  mac: string | null;
}

export interface AuditHead {
  seq: number;
  hash: string;
}

/** The head file's record: the head, and while a commit is in flight the head before it. */
interface HeadRecord extends AuditHead {
  from?: AuditHead;
}

export interface AuditVerdict {
  ok: boolean;
  entries: number;
  /** Entries whose MAC was checked against the provider's key. */
  keyed: number;
  /** Entries after the last keyed one: their content rests on the hash chain alone. */
  unkeyed_tail: number;
  /** False when the provider's audit key is out of reach now (a locked keystore): MACs were not checked. */
  macs_checked: boolean;
  /** Every rollback found at a start (entries lost to a restore or a cut), oldest first. */
  rollbacks: Array<{ seq: number; from_seq: number; to_seq: number; reason: string }>;
  problem?: { seq: number; reason: string };
}

/** What the log found at start about its own continuity; the service records it as a rollback entry. */
export interface StartFinding {
  from_seq: number;
  to_seq: number;
  reason: string;
}

export type AuditMac = (data: Uint8Array) => Promise<Buffer | undefined>;

interface Request {
  event: AuditEntry['event'];
  key: string | null;
  detail: Record<string, unknown>;
  extra: BatchOp[];
  /** Called once the entry's writes are on their way (or its commit failed before them). */
  issued?: () => void;
  resolve: (e: AuditEntry) => void;
  reject: (err: unknown) => void;
}

const GENESIS = '0'.repeat(64);
const HEAD_FILE_SIZE = 256;
/** The most entries one commit carries (a bound on one batch, not on throughput). */
const MAX_GROUP = 256;
const seqKey = (n: number): string => `a:${String(n).padStart(12, '0')}`;

function entryHash(e: Omit<AuditEntry, 'hash' | 'mac'>): string {
  return createHash('sha256')
    .update(JSON.stringify([e.seq, e.time, e.event, e.key, e.detail, e.prev]))
    .digest('hex');
}
const macInput = (hash: string): Buffer => Buffer.from(`anyad-audit-v1:${hash}`);

export class AuditLog {
  private head: AuditHead = { seq: 0, hash: GENESIS };
  /** Entries asked for and not yet committed, in the order asked. */
  private queue: Array<Request> = [];
  /** The commit loop while it runs; one at a time, so sequence numbers never collide. */
  private committing: Promise<void> | undefined;
  private headFh: FileHandle | undefined;
  /** The same file opened O_DSYNC: a synced record is one write on the thread pool, not a write and then a datasync. */
  private headSyncFh: FileHandle | undefined;

  /**
   * @param headFile where the head outside LevelDB lives (undefined: none, for tools reading a copy)
   * @param mac the provider's audit MAC
   * @param macRequired true where the key is always in reach (a token): an entry without a MAC is then a forgery
   */
  constructor(
    private readonly db: RoomDb,
    private readonly headFile: string | undefined,
    private readonly mac: AuditMac,
    private readonly macRequired: () => boolean,
    /** Writes one atomic, synced batch (the store's). */
    private readonly write: (ops: BatchOp[]) => Promise<void> = () => Promise.reject(new Error('this audit log is read-only')),
  ) {}

  /** Reads both heads; answers what a rollback or a cut would look like, for the caller to record. */
  async load(): Promise<StartFinding | undefined> {
    this.head = ((await this.db.get('a:head')) as AuditHead | undefined) ?? { seq: 0, hash: GENESIS };
    if (!this.headFile) return undefined;
    const file = await this.readHeadFile();
    // Read-write, created 0600 if missing, not in append mode (its one record is rewritten in place at offset 0).
    this.headFh = await open(this.headFile, constants.O_RDWR | constants.O_CREAT, 0o600);
    this.headSyncFh = await open(this.headFile, constants.O_RDWR | constants.O_DSYNC);
    let finding: StartFinding | undefined;
    if (!file) {
      if (this.head.seq > 0)
        finding = {
          from_seq: this.head.seq,
          to_seq: this.head.seq,
          reason: `the head file ${this.headFile} was missing (first start of a build that keeps it, or it was removed): entries cut before this start cannot be ruled out`,
        };
    } else {
      const problem = await this.checkHeadFile(file, this.head.seq);
      if (problem) finding = { from_seq: problem.expected, to_seq: this.head.seq, reason: problem.reason };
    }
    await this.writeHeadFile(this.head);
    return finding;
  }

  async close(): Promise<void> {
    await this.committing;
    await this.headFh?.close();
    await this.headSyncFh?.close();
    this.headFh = undefined;
    this.headSyncFh = undefined;
  }

  /**
   * Compares the head file with the database, whose log ends at `end`. A commit the head file names as in flight
   * may have ended either way (nothing of it was answered); anything else that falls short is a rollback or a cut.
   */
  private async checkHeadFile(file: HeadRecord, end: number): Promise<{ expected: number; reason: string } | undefined> {
    const at = async (h: AuditHead): Promise<boolean> => h.seq === 0 || ((await this.db.get(seqKey(h.seq))) as AuditEntry | undefined)?.hash === h.hash;
    if (end === file.seq)
      return (await at(file)) ? undefined : { expected: file.seq, reason: `entry ${file.seq} is not the one the head file recorded: the log was replaced` };
    if (file.from && end === file.from.seq)
      return (await at(file.from))
        ? undefined
        : { expected: file.from.seq, reason: `entry ${file.from.seq} is not the one the head file recorded: the log was replaced` };
    // Entries up to the commit in flight's start were answered for certain, the rest perhaps: a log that ends
    // before that start lost answered entries, and everything up to the file's head is named as possibly lost.
    if (end < (file.from?.seq ?? file.seq))
      return { expected: file.seq, reason: `the log ends at ${end} but the head file says ${file.seq}: entries were removed, or an older state was restored` };
    // The database is ahead of the head file (the file's write was lost in a crash after the batch): the entry the
    // file names must still be there.
    return (await at(file)) ? undefined : { expected: file.seq, reason: `entry ${file.seq} is not the one the head file recorded: the log was replaced` };
  }

  private async readHeadFile(): Promise<HeadRecord | undefined> {
    let text: string;
    try {
      const fh = await open(this.headFile!, 'r');
      try {
        text = (await fh.readFile('utf8')).trim();
      } finally {
        await fh.close();
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    if (text === '') return undefined;
    const h = JSON.parse(text) as HeadRecord;
    const valid = (x: AuditHead | undefined): boolean => x !== undefined && Number.isInteger(x.seq) && typeof x.hash === 'string';
    if (!valid(h) || (h.from !== undefined && !valid(h.from))) throw new Error(`${this.headFile} is not an audit head file`);
    return h;
  }

  /**
   * One fixed-size record written in place: no rename, and when synced one O_DSYNC write (a single step on the
   * thread pool, so it completes while the provider signs on this thread; a write-then-datasync would wait for this
   * thread between its two steps).
   */
  private async writeHeadFile(h: AuditHead, from?: AuditHead, sync = true): Promise<void> {
    if (!this.headFh) return;
    const buf = Buffer.alloc(HEAD_FILE_SIZE, 0x20);
    buf.write(JSON.stringify({ seq: h.seq, hash: h.hash, ...(from ? { from: { seq: from.seq, hash: from.hash } } : {}) }));
    buf[HEAD_FILE_SIZE - 1] = 0x0a;
    await (sync ? this.headSyncFh! : this.headFh).write(buf, 0, HEAD_FILE_SIZE, 0);
  }

  /**
   * Appends an entry: the caller's operations and the entry go in one batch (with the other entries of its group),
   * so an event and its audit entry exist together or not at all. Answers once the entry is durable.
   */
  append(event: AuditEntry['event'], key: string | null, detail: Record<string, unknown>, extra: BatchOp[] = [], issued?: () => void): Promise<AuditEntry> {
    return new Promise((resolve, reject) => {
      this.queue.push({ event, key, detail, extra, issued, resolve, reject });
      if (!this.committing) this.committing = this.commitAll();
    });
  }

  /**
   * Commits groups until nothing is waiting. The loop's last look at the queue and its end are one synchronous
   * step, so an entry asked for by a caller that was just answered is never left behind.
   */
  private async commitAll(): Promise<void> {
    await Promise.resolve(); // the caller has set `committing` before the loop can end
    try {
      while (this.queue.length > 0) await this.commitGroup(this.queue.splice(0, MAX_GROUP));
    } finally {
      this.committing = undefined;
    }
  }

  private async commitGroup(group: Request[]): Promise<void> {
    let head = this.head;
    const ops: BatchOp[] = [];
    const done: Array<{ r: Request; entry: AuditEntry }> = [];
    for (const r of group) {
      const base = { seq: head.seq + 1, time: new Date().toISOString(), event: r.event, key: r.key, detail: r.detail, prev: head.hash };
      const entry: AuditEntry = { ...base, hash: entryHash(base), mac: null };
      head = { seq: entry.seq, hash: entry.hash };
      done.push({ r, entry });
    }
    // The commit's last entry carries the MAC; the chain through its prev hashes covers the others.
    const last = done.at(-1)!.entry;
    try {
      const mac = await this.mac(macInput(last.hash));
      last.mac = mac ? mac.toString('hex') : null;
    } catch (err) {
      for (const { r } of done) r.issued?.();
      for (const { r } of done) r.reject(err);
      return;
    }
    for (const { r, entry } of done) ops.push(...r.extra, { type: 'put', sublevel: this.db, key: seqKey(entry.seq), value: entry });
    ops.push({ type: 'put', sublevel: this.db, key: 'a:head', value: head });
    try {
      // Side by side: the head file names this commit as in flight, so a crash between the two is no rollback.
      const writes = Promise.allSettled([this.write(ops), this.writeHeadFile(head, this.head)]);
      for (const { r } of done) r.issued?.();
      const results = await writes;
      const failed = results.find((x): x is PromiseRejectedResult => x.status === 'rejected');
      if (results[0].status === 'fulfilled') this.head = head;
      if (failed) throw failed.reason;
    } catch (err) {
      for (const { r } of done) r.reject(err);
      return;
    }
    for (const { r, entry } of done) r.resolve(entry);
    // Settled: the commit is no longer in flight (see the top of this file).
    await this.writeHeadFile(head, undefined, false).catch(() => undefined);
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
  async verify(): Promise<AuditVerdict> {
    let prev = GENESIS;
    let expect = 1;
    let n = 0;
    let keyed = 0;
    let lastKeyed = 0;
    /** The first entry of the unkeyed run since the last keyed entry. */
    let unkeyedFrom: number | undefined;
    const probe = await this.mac(macInput(GENESIS));
    const macsChecked = probe !== undefined;
    const rollbacks: AuditVerdict['rollbacks'] = [];
    const verdict = (problem?: AuditVerdict['problem']): AuditVerdict => {
      const latest = rollbacks.at(-1);
      const p = problem ?? (latest ? { seq: latest.seq, reason: `rollback recorded at entry ${latest.seq}: ${latest.reason}` } : undefined);
      return { ok: p === undefined, entries: n, keyed, unkeyed_tail: n - lastKeyed, macs_checked: macsChecked, rollbacks, ...(p ? { problem: p } : {}) };
    };
    for await (const [k, v] of this.db.iterator({ gte: 'a:000000000000', lt: 'a:999999999999~' })) {
      const e = v as AuditEntry;
      n++;
      const at = Number(k.slice(2));
      if (e.seq !== at) return verdict({ seq: at, reason: `entry stored at ${at} says it is ${e.seq}: moved or reordered` });
      if (e.seq !== expect) return verdict({ seq: expect, reason: `entry ${expect} is missing (next found is ${e.seq})` });
      if (e.prev !== prev)
        return verdict({
          seq: e.seq,
          reason: `entry ${e.seq} does not follow entry ${e.seq - 1} (previous hash differs): reordered or an earlier entry was replaced`,
        });
      const { hash, mac, ...rest } = e;
      if (entryHash(rest) !== hash) return verdict({ seq: e.seq, reason: `entry ${e.seq} was changed (its hash does not match its content)` });
      if (mac) {
        if (macsChecked) {
          const want = await this.mac(macInput(hash));
          if (!want || want.toString('hex') !== mac)
            return verdict({ seq: e.seq, reason: `entry ${e.seq} carries a MAC the provider's audit key did not make: the log was rewritten from here on` });
        }
        keyed++;
        lastKeyed = n;
        unkeyedFrom = undefined;
      } else if (!(mac === undefined && keyed === 0)) {
        // (Entries with no mac field at all, before the first keyed one, were written by a build without MACs.)
        unkeyedFrom ??= e.seq;
      }
      if (e.event === 'rollback')
        rollbacks.push({ seq: e.seq, from_seq: Number(e.detail.from_seq), to_seq: Number(e.detail.to_seq), reason: String(e.detail.reason) });
      prev = hash;
      expect++;
    }
    // Entries without a MAC are covered by the next keyed one; where the key is always in reach (a token) the log
    // never ends in them, so an unkeyed tail there was written by someone else.
    if (this.macRequired() && unkeyedFrom !== undefined)
      return verdict({
        seq: unkeyedFrom,
        reason: `entry ${unkeyedFrom} has no MAC although the provider's audit key is always in reach, and no later entry covers it: the log was rewritten from here on`,
      });
    const head = (await this.db.get('a:head')) as AuditHead | undefined;
    if (head && (head.seq !== expect - 1 || head.hash !== prev))
      return verdict({ seq: expect, reason: `the log ends at ${expect - 1} but its head says ${head.seq}: entries were removed from the end` });
    if (this.headFile) {
      const file = await this.readHeadFile();
      const problem = file && (await this.checkHeadFile(file, expect - 1));
      if (problem) return verdict({ seq: problem.expected, reason: problem.reason });
    }
    return verdict();
  }
}
