// A tamper-evident audit log of every key event, in the hsm sublevel. Each entry carries its sequence number and
// the hash of the previous entry, and its own hash covers both: a changed, removed or reordered entry breaks the
// chain at a place verify() names. What makes it more than a checksum (issue 26 item 7):
// - every entry is covered by a MAC made with a key that lives in the provider (a non-extractable token secret; in
//   the keystore, a key derived from the seed). One MAC per commit, on its last entry, over that entry's hash and
//   `from`, the first sequence number of the commit: the hash chain runs through the commit's entries, so the MAC
//   covers exactly entries from..seq, and commits must tile the log (each `from` is the previous commit's end + 1).
//   An entry no MAC covers is a break. (Before this rule, the next keyed entry was taken to cover every unkeyed
//   entry before it, so whoever could write LevelDB rewrote a suffix with empty MACs and anyad vouched for it with
//   its next commit.)
// - while the key is out of reach (a keystore locked since start; its key is kept after a lock), nothing is chained:
//   events go to a journal (u: keys) and are chained, marked `journaled`, by the first commit that has the key.
//   Journaled entries rest on nothing but anyad's word that it wrote them: whoever can write LevelDB can add to the
//   journal (never change or remove a chained entry unseen).
// - a head file outside LevelDB (audit-head.ts: sequence, hash and a MAC over both under a label of its own), replaced by
//   write-sync-rename after each commit's batch is durable, never before: it may lag behind the log by the commits in
//   flight (that is no rollback), and a head file ahead of the log, or naming an entry the log does not have, or
//   without a valid MAC, is a cut or a restore. It is found at the next start and recorded in the log itself (a
//   rollback entry), and verify() names it.
// What it cannot catch: someone who holds the MAC key (a root user on an unlocked keystore), or who puts back an
// older head file together with the older database it belongs to (no monotonic counter in a PKCS#11 token), or a
// cut of the commits whose head-file write had not finished (the lag).
//
// Failed writes (issue 34, disk full): a commit's in-memory state (head, journal flags) moves only once its batch is
// durable; a failed batch rejects its callers with the store's own error, leaves the head file alone (it is written
// only after a batch), and the next commit continues the chain from what is durable. A head-file write that fails
// leaves the previous file whole (its temp file is removed) and is retried with the next commit.
//
// Group commit: entries asked for while a commit is on its way are chained in memory and written together in one
// synced LevelDB batch. Every caller is answered once that batch is durable (so a signature still leaves anyad only
// after its audit entry is on disk); the head file is written after, off the answer's path.

import { randomBytes } from 'node:crypto';
import type { BatchOp, RoomDb } from '../core/store.js';
import {
  entryHash,
  GENESIS,
  macInput,
  macInputV1,
  MAX_GROUP,
  seqKey,
  type AuditEntry,
  type AuditHead,
  type AuditMac,
  type AuditVerdict,
  type StartFinding,
} from './audit-chain.js';
import { AuditHeadFile, type HeadRecord } from './audit-head.js';

/** The head file is rewritten at most this often (scheduleHead). */
const HEAD_EVERY_MS = 50;

export type { AuditEntry, AuditHead, AuditMac, AuditVerdict, StartFinding } from './audit-chain.js';

interface Request {
  event: AuditEntry['event'];
  key: string | null;
  detail: Record<string, unknown>;
  /** When it happened (a journaled event keeps its own time). */
  time?: string;
  extra: BatchOp[];
  /** Called once the entry's writes are on their way (or its commit failed before them). */
  issued?: () => void;
  resolve: (e: AuditEntry | undefined) => void;
  reject: (err: unknown) => void;
}

/** A journal record: an event recorded while the audit key was out of reach, chained once it is back. */
interface Journaled {
  event: AuditEntry['event'];
  key: string | null;
  detail: Record<string, unknown>;
  time: string;
}

export class AuditLog {
  /** The head of what is durable in LevelDB. */
  private head: AuditHead = { seq: 0, hash: GENESIS };
  /** Entries asked for and not yet committed, in the order asked. */
  private queue: Array<Request> = [];
  /** The commit loop while it runs; one at a time, so sequence numbers never collide. */
  private committing: Promise<void> | undefined;
  /** True while the journal (u: keys) may hold events to chain. */
  private journalPending = false;
  /**
   * Journal records made by this process, numbered: two groups journaled within one millisecond keep the order they
   * were recorded in (the key sorts by time, then this number; a random suffix alone ordered them by chance).
   */
  private journalNext = 0;
  /** A head file whose MAC could not be checked at start (the key was out of reach): checked by the first keyed commit. */
  private headToCheck: HeadRecord | undefined;
  /** The head the head file should be brought to, and the writer doing it (one at a time, the latest wins). */
  private headWanted: AuditHead | undefined;
  private headWriter: Promise<void> | undefined;
  /** Set at close: the last head write goes at once. */
  private closingHead = false;
  /** The head file outside LevelDB (audit-head.ts); undefined: none. */
  private readonly headStore: AuditHeadFile | undefined;
  private readonly db: RoomDb;
  private readonly headFile: string | undefined;
  private readonly mac: AuditMac;
  private readonly write: (ops: BatchOp[]) => Promise<void>;
  private readonly onHeadError: (err: unknown) => void;

  constructor(o: {
    /** The hsm sublevel the log is in. */
    db: RoomDb;
    /** Where the head outside LevelDB lives (undefined: none, for tools reading a copy). */
    headFile: string | undefined;
    /** The provider's audit MAC (undefined while its key is out of reach). */
    mac: AuditMac;
    /** Writes one atomic, synced batch (the store's); absent: the log is read-only. */
    write?: (ops: BatchOp[]) => Promise<void>;
    /** Told when a head-file write failed (the file keeps the previous head; retried next commit). */
    onHeadError?: (err: unknown) => void;
  }) {
    this.db = o.db;
    this.headFile = o.headFile;
    this.mac = o.mac;
    this.write = o.write ?? (() => Promise.reject(new Error('this audit log is read-only')));
    this.onHeadError = o.onHeadError ?? (() => undefined);
    this.headStore = o.headFile === undefined ? undefined : new AuditHeadFile({ file: o.headFile, db: o.db, mac: o.mac });
  }

  /** Brings the head file to `h` (nothing without a head file, or while the audit key is out of reach). */
  private async writeHead(h: AuditHead): Promise<void> {
    await this.headStore?.write(h);
  }

  /** Reads both heads; answers what a rollback or a cut would look like, for the caller to record. */
  async load(): Promise<StartFinding | undefined> {
    this.head = ((await this.db.get('a:head')) as AuditHead | undefined) ?? { seq: 0, hash: GENESIS };
    for await (const _ of this.db.keys({ gte: 'u:', lt: 'u;', limit: 1 })) this.journalPending = true;
    if (!this.headStore) return undefined;
    const file = await this.headStore.read();
    if (!file) {
      if (this.head.seq > 0)
        return {
          from_seq: this.head.seq,
          to_seq: this.head.seq,
          reason: `the head file ${this.headFile} was missing (first start of a build that keeps it, or it was removed): entries cut before this start cannot be ruled out`,
        };
      await this.writeHead(this.head).catch((err: unknown) => this.onHeadError(err));
      return undefined;
    }
    const problem = await this.headStore.check(file, this.head.seq);
    if (problem) return { from_seq: problem.expected, to_seq: this.head.seq, reason: problem.reason };
    const macProblem = await this.headStore.checkMac(file);
    if (macProblem === 'out of reach') this.headToCheck = file;
    else if (macProblem) return { from_seq: file.seq, to_seq: this.head.seq, reason: macProblem };
    // Bring a lagging or older-format file up to the log (only with the key: an unMAC'd head is never written).
    else if (file.seq !== this.head.seq || file.mac === undefined) await this.writeHead(this.head).catch((err: unknown) => this.onHeadError(err));
    return undefined;
  }

  async close(): Promise<void> {
    this.closingHead = true;
    await this.committing;
    await this.headWriter;
  }

  /** Brings the head file to `h` after its batch is durable, off the answer's path; the latest head wins. */
  private scheduleHead(h: AuditHead): void {
    this.headWanted = h;
    this.headWriter ??= (async () => {
      try {
        while (this.headWanted) {
          const next = this.headWanted;
          this.headWanted = undefined;
          await this.writeHead(next).catch((err: unknown) => this.onHeadError(err));
          // At most one head write (two fsyncs) per HEAD_EVERY_MS: under many signers a rewrite per commit took the
          // disk from the log's own batches. The file lags by what was committed meanwhile, as it already lagged by
          // the commits in flight; close() waits for the last one.
          if (this.headWanted && !this.closingHead) await new Promise((r) => setTimeout(r, HEAD_EVERY_MS));
        }
      } finally {
        this.headWriter = undefined;
      }
    })();
  }

  /**
   * Appends an entry: the caller's operations and the entry go in one batch (with the other entries of its group),
   * so an event and its audit entry exist together or not at all. Answers once the entry is durable: the chained
   * entry, or undefined when the audit key was out of reach and the event went to the journal.
   */
  append(
    event: AuditEntry['event'],
    key: string | null,
    detail: Record<string, unknown>,
    extra: BatchOp[] = [],
    issued?: () => void,
  ): Promise<AuditEntry | undefined> {
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

  /**
   * What the first commit with the key chains before its own entries: a rollback entry for a head file whose MAC
   * could not be checked at start and is not the key's, then the journal, in the order recorded; with the journal's
   * deletions. Nothing when the key is still out of reach.
   */
  private async catchUp(): Promise<{ before: Request[]; ops: BatchOp[]; headChecked: boolean; journalRead: boolean } | undefined> {
    if (!this.journalPending && !this.headToCheck) return { before: [], ops: [], headChecked: false, journalRead: false };
    if (!(await this.mac(macInput(0, GENESIS)))) return undefined;
    const before: Request[] = [];
    const ops: BatchOp[] = [];
    const none = (): void => undefined;
    if (this.headToCheck) {
      const problem = await this.headStore!.checkMac(this.headToCheck);
      if (problem && problem !== 'out of reach')
        before.push({
          event: 'rollback',
          key: null,
          detail: { from_seq: this.headToCheck.seq, to_seq: this.head.seq, reason: problem },
          extra: [],
          resolve: none,
          reject: none,
        });
    }
    if (this.journalPending)
      for await (const [k, v] of this.db.iterator({ gte: 'u:', lt: 'u;', limit: MAX_GROUP })) {
        const j = v as Journaled;
        before.push({ event: j.event, key: j.key, detail: { ...j.detail, journaled: true }, time: j.time, extra: [], resolve: none, reject: none });
        ops.push({ type: 'del', sublevel: this.db, key: k });
      }
    return { before, ops, headChecked: this.headToCheck !== undefined, journalRead: this.journalPending };
  }

  private async commitGroup(group: Request[]): Promise<void> {
    const fail = (err: unknown): void => {
      for (const r of group) r.issued?.();
      for (const r of group) r.reject(err);
    };
    let prior;
    try {
      prior = await this.catchUp();
    } catch (err) {
      fail(err);
      return;
    }
    if (!prior) return this.journal(group);
    const all = [...prior.before, ...group];
    let head = this.head;
    const from = head.seq + 1;
    const done: Array<{ r: Request; entry: AuditEntry }> = [];
    for (const r of all) {
      const base = { seq: head.seq + 1, time: r.time ?? new Date().toISOString(), event: r.event, key: r.key, detail: r.detail, prev: head.hash };
      const entry: AuditEntry = { ...base, hash: entryHash(base), mac: null };
      head = { seq: entry.seq, hash: entry.hash };
      done.push({ r, entry });
    }
    // The commit's last entry carries the MAC over from..seq; the chain through its prev hashes covers the others.
    const last = done.at(-1)!.entry;
    let mac;
    try {
      mac = await this.mac(macInput(from, last.hash));
    } catch (err) {
      fail(err);
      return;
    }
    // (The key went out of reach since catchUp looked: nothing chained, the group goes to the journal.)
    if (!mac) return this.journal(group);
    last.mac = mac.toString('hex');
    last.from = from;
    const ops: BatchOp[] = [...prior.ops];
    for (const { r, entry } of done) ops.push(...r.extra, { type: 'put', sublevel: this.db, key: seqKey(entry.seq), value: entry });
    ops.push({ type: 'put', sublevel: this.db, key: 'a:head', value: head });
    // Nothing moved in memory when it fails: the next commit continues from what is durable.
    if (!(await this.written(ops, group))) return;
    this.head = head;
    if (prior.headChecked) this.headToCheck = undefined;
    // (A journal longer than one group is read on by the next commit.)
    if (prior.journalRead && prior.ops.length < MAX_GROUP) this.journalPending = false;
    for (const { r, entry } of done) r.resolve(entry);
    this.scheduleHead(head);
  }

  /** Writes a group's batch (each request told once it is issued); false, with every request rejected, when it fails. */
  private async written(ops: BatchOp[], group: Request[]): Promise<boolean> {
    try {
      const written = this.write(ops);
      for (const r of group) r.issued?.();
      await written;
      return true;
    } catch (err) {
      for (const r of group) r.reject(err);
      return false;
    }
  }

  /** The key is out of reach: the group's events and operations are written with journal records, nothing chained. */
  private async journal(group: Request[]): Promise<void> {
    const ops: BatchOp[] = [];
    const now = Date.now();
    for (const r of group) {
      const rec: Journaled = { event: r.event, key: r.key, detail: r.detail, time: new Date(now).toISOString() };
      const id = `u:${String(now).padStart(15, '0')}:${String(this.journalNext++).padStart(12, '0')}:${randomBytes(4).toString('hex')}`;
      ops.push(...r.extra, { type: 'put', sublevel: this.db, key: id, value: rec });
    }
    if (!(await this.written(ops, group))) return;
    this.journalPending = true;
    for (const r of group) r.resolve(undefined);
  }

  /** Entries chained so far (the head's sequence number). */
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
    /** The last entry a MAC covers (or an entry of a build before MACs, which had none to carry). */
    let covered = 0;
    let sawV2 = false;
    const probe = await this.mac(macInput(0, GENESIS));
    const macsChecked = probe !== undefined;
    const rollbacks: AuditVerdict['rollbacks'] = [];
    const verdict = (problem?: AuditVerdict['problem']): AuditVerdict => {
      const latest = rollbacks.at(-1);
      const p = problem ?? (latest ? { seq: latest.seq, reason: `rollback recorded at entry ${latest.seq}: ${latest.reason}` } : undefined);
      return { ok: p === undefined, entries: n, keyed, unkeyed_tail: n - covered, macs_checked: macsChecked, rollbacks, ...(p ? { problem: p } : {}) };
    };
    const uncovered = (seq: number): AuditVerdict['problem'] => ({
      seq,
      reason: `entry ${seq} carries no MAC and no MAC of its commit covers it: the log was rewritten from here on`,
    });
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
      const { hash, mac, from, ...rest } = e;
      if (entryHash(rest) !== hash) return verdict({ seq: e.seq, reason: `entry ${e.seq} was changed (its hash does not match its content)` });
      if (mac) {
        // A commit's MAC covers from..seq, and commits tile the log: an entry between two commits is covered by none.
        if (from !== undefined) {
          sawV2 = true;
          if (from !== covered + 1) return verdict(uncovered(covered + 1));
        } else if (sawV2) return verdict(uncovered(covered + 1));
        if (macsChecked) {
          const want = await this.mac(from === undefined ? macInputV1(hash) : macInput(from, hash));
          if (!want || want.toString('hex') !== mac)
            return verdict({ seq: e.seq, reason: `entry ${e.seq} carries a MAC the provider's audit key did not make: the log was rewritten from here on` });
        }
        keyed++;
        covered = e.seq;
      } else if (mac === undefined && keyed === 0) covered = e.seq; // written by a build without MACs
      if (e.event === 'rollback')
        rollbacks.push({ seq: e.seq, from_seq: Number(e.detail.from_seq), to_seq: Number(e.detail.to_seq), reason: String(e.detail.reason) });
      prev = hash;
      expect++;
    }
    // Entries after the last commit's MAC: this build never leaves them (its journal holds what it records without
    // the key), so someone else wrote them. (A log of an older build that ends in its locked keystore's unkeyed
    // entries is named too, once: the first commit of this build cannot vouch for them.)
    if (covered < n) return verdict(uncovered(covered + 1));
    const head = (await this.db.get('a:head')) as AuditHead | undefined;
    if (head && (head.seq !== expect - 1 || head.hash !== prev))
      return verdict({ seq: expect, reason: `the log ends at ${expect - 1} but its head says ${head.seq}: entries were removed from the end` });
    if (this.headStore) {
      const file = await this.headStore.read();
      const problem = file && (await this.headStore.check(file, expect - 1));
      if (problem) return verdict({ seq: problem.expected, reason: problem.reason });
      const macProblem = file && (await this.headStore.checkMac(file));
      if (macProblem && macProblem !== 'out of reach') return verdict({ seq: file.seq, reason: macProblem });
    }
    return verdict();
  }
}
