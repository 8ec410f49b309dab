// Opening the state at start: the store, checked against the state record and the files rooms keep beside it, or
// refused by name with the ways on (issue 34). Also the 'state' service: the disk's free space watched while
// anyad runs, `health` degraded while it is below minfreespace or a write has failed, ok again without a restart.

import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { HealthCell, type Health, type Service } from '../core/service.js';
import { formatBytes } from '../core/storage.js';
import { readRecord, RecordError, type StateRecord } from '../store/record.js';
import { freeBytes, repairState, Store, StoreCorruptError, type DamagedRecord } from '../store/store.js';
import { checkState, describeCounts } from '../store/verify.js';

export const STATE_RECORD = 'state.record';

/** The state cannot be used as it is: the message lists what was found and the ways on. */
export class StateRefusedError extends Error {
  override name = 'StateRefusedError';
}

/**
 * A step after LevelDB's repair under -acceptstate: repair cannot rebuild every damage (on some it aborts, on some
 * the repaired state still cannot be read), and then the one way left is named, whichever step found it.
 */
async function repairedOrRefused<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (e) {
    // A lock held by another anyad, or a state of a newer anyad, is not damage: said as it is, not as "restore".
    if (!(e instanceof StoreCorruptError)) throw e;
    throw new StateRefusedError(`${e.message}; -acceptstate cannot take this state: restore a backup with -restore=<file>`);
  }
}

export interface OpenStateOptions {
  netdir: string;
  /** -acceptstate: take a state that disagrees with its record as it is (recorded). */
  accept: boolean;
  /** -restore is given: the state will be replaced, so its own disagreements do not matter. */
  restoring: boolean;
  /** Files rooms keep beside the state whose presence shows a state existed. */
  evidence: string[];
  log: Logger;
}

const WAYS_ON =
  'anyad will not start on it, since what it lost would be lost in silence (channel revocation data, audit entries, keys). Ways on: restore a backup with -restore=<file> (written by the `backup` RPC), or start with the state as it is with -acceptstate (what is missing stays missing; the acceptance is recorded in the state and the audit log).';

function refuse(dir: string, problems: string[]): StateRefusedError {
  return new StateRefusedError(`the state in ${dir} is not the one anyad last wrote:\n${problems.map((p) => `  - ${p}`).join('\n')}\n${WAYS_ON}`);
}

/** Opens the state, refusing (StateRefusedError) one that is not what anyad last wrote unless told to accept it. */
export async function openState(o: OpenStateOptions): Promise<Store> {
  const dir = join(o.netdir, 'state');
  const recordFile = join(o.netdir, STATE_RECORD);
  const existed = existsSync(join(dir, 'CURRENT'));
  // A record write cut short by a crash leaves its temp file; the record itself is whole (renamed into place).
  for (const f of await readdir(o.netdir).catch(() => [] as string[]))
    if (f.startsWith(`${STATE_RECORD}.tmp-`)) await unlink(join(o.netdir, f)).catch(() => undefined);
  let record: StateRecord | undefined;
  const problems: string[] = [];
  try {
    record = await readRecord(recordFile);
  } catch (err) {
    if (!(err instanceof RecordError)) throw err;
    problems.push(err.message);
  }
  if (!existed && !o.restoring) {
    const found = [...(record ? [`${recordFile} (state ${record.id}, generation ${record.generation}, ${describeCounts(record.counts)})`] : [])];
    for (const f of o.evidence) if (existsSync(f)) found.push(f);
    if (found.length > 0) problems.push(`the state folder ${dir} is missing, but ${found.join(' and ')} ${found.length > 1 ? 'are' : 'is'} there`);
  }
  if (problems.length > 0 && !o.accept) throw refuse(dir, problems);

  await mkdir(dir, { recursive: true, mode: 0o700 });
  /** LevelDB's repair (it keeps every record it can still read), then the state opened again. */
  const repairAndOpen = async (): Promise<Store> => {
    await repairState(dir);
    return Store.open(dir, { recordFile, datadir: o.netdir, onRecordLag });
  };
  const onRecordLag = (err: unknown): void =>
    o.log.warn({ reason: (err as Error).message }, 'cannot write the state record (it lags the state; retried at the next write)');
  let store: Store;
  try {
    store = await Store.open(dir, { recordFile, datadir: o.netdir, onRecordLag });
  } catch (err) {
    if (err instanceof StoreCorruptError && o.restoring) {
      // A restore replaces the state anyway; one LevelDB cannot even open is moved aside (never deleted) first.
      const aside = `${dir}-damaged-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      await rename(dir, aside);
      o.log.warn({ aside, reason: err.message }, '-restore: the damaged state folder was moved aside');
      await mkdir(dir, { recursive: true, mode: 0o700 });
      return Store.open(dir, { recordFile, datadir: o.netdir, onRecordLag });
    }
    if (!(err instanceof StoreCorruptError)) throw err;
    if (!o.accept) throw refuse(dir, [err.message]);
    // Accepted: LevelDB's repair keeps every record it can still read.
    o.log.warn({ reason: err.message }, '-acceptstate: repairing the LevelDB state (records it cannot read are dropped)');
    problems.push(err.message);
    store = await repairedOrRefused(repairAndOpen);
  }
  if (o.restoring) return store; // the daemon restores, then adopts the restored state (adoptRestored)
  try {
    let counted: Record<string, number>;
    let damaged: DamagedRecord[];
    try {
      ({ counts: counted, damaged } = await store.countRecords());
    } catch (err) {
      if (!(err instanceof StoreCorruptError)) throw err;
      if (!o.accept) throw refuse(dir, [err.message]);
      // Accepted: LevelDB's repair keeps every record it can still read; then count again.
      o.log.warn({ reason: err.message }, '-acceptstate: repairing the LevelDB state (records it cannot read are dropped)');
      problems.push(err.message);
      await store.close();
      store = await repairedOrRefused(repairAndOpen);
      ({ counts: counted, damaged } = await repairedOrRefused(() => store.countRecords()));
    }
    if (damaged.length > 0) {
      problems.push(...describeDamaged(damaged));
      if (!o.accept) throw refuse(dir, problems);
      // Accepted: a record that cannot be decoded is gone already; dropping it lets the rooms open on the rest. Its
      // bytes are kept beside the state first (0600: a record may hold sealed secrets), for whoever must piece it back.
      const kept = join(o.netdir, `state-dropped-${new Date().toISOString().replace(/[:.]/g, '-')}.jsonl`);
      await writeFile(kept, damaged.map((d) => `${JSON.stringify({ room: d.room, key: d.key.toString('hex'), value: d.value.toString('hex') })}\n`).join(''), {
        mode: 0o600,
        flag: 'wx',
      });
      await store.dropDamaged(damaged);
      problems.push(`the records that could not be decoded were dropped; their bytes are kept in ${kept}`);
      o.log.warn({ records: damaged.length, keys: damaged.slice(0, 50).map(keyName), kept }, '-acceptstate: dropped the records that cannot be decoded');
    }
    const check = checkState(store.stateFacts(), counted, record);
    problems.push(...check.problems);
    if (check.fresh || check.legacy) {
      await store.adopt(counted, record?.generation ?? 0);
      if (check.legacy) o.log.info({ counts: counted }, 'state written before states knew themselves: identity and counts recorded now');
    } else if (problems.length > 0) {
      if (!o.accept) throw refuse(dir, problems);
      await store.adopt(counted, record?.generation ?? 0);
      await store.note(`accepted:${new Date().toISOString()}`, { problems, counts: counted });
      o.log.warn({ problems }, '-acceptstate: started with the state as it is; what was missing stays missing');
    } else if (!record) {
      // The state is whole and knows itself, but its record is gone (removed, or the first write never finished).
      await store.adopt(counted, 0);
      o.log.warn({ record: recordFile }, 'the state record was missing; written anew from the state');
    }
    return store;
  } catch (err) {
    await store.close();
    throw err;
  }
}

/** A record's key as text (keys name what they hold, e.g. a channel or contract id; never a secret). */
function keyName(d: DamagedRecord): string {
  const k = d.key.toString('latin1');
  return /^[\x20-\x7e]*$/.test(k) ? k : `0x${d.key.toString('hex')}`;
}

function describeDamaged(damaged: readonly DamagedRecord[]): string[] {
  const byRoom = new Map<string, DamagedRecord[]>();
  for (const d of damaged) {
    const list = byRoom.get(d.room) ?? [];
    list.push(d);
    byRoom.set(d.room, list);
  }
  return [...byRoom].map(([room, ds]) => {
    const n = ds.length;
    const names = ds.slice(0, 10).map(keyName).join(', ') + (n > 10 ? `, and ${n - 10} more` : '');
    return `room '${room}': ${n} record${n === 1 ? '' : 's'} cannot be decoded (the table holding ${n === 1 ? 'it' : 'them'} is damaged): ${names}`;
  });
}

/** After -restore replaced the state: take it as the state from now on, past every generation seen before. */
export async function adoptRestored(store: Store, netdir: string): Promise<void> {
  const record = await readRecord(join(netdir, STATE_RECORD)).catch(() => undefined);
  await store.reloadFacts();
  const { counts } = await store.countRecords();
  await store.adopt(counts, record?.generation ?? 0);
}

/** The 'state' service: the data directory's disk, watched. */
export class StateService implements Service {
  readonly name = 'state';
  private readonly cell = new HealthCell();
  private timer: NodeJS.Timeout | undefined;
  private free: number | null = null;

  constructor(
    private readonly store: Store,
    private readonly netdir: string,
    private readonly minFreeBytes: number,
    private readonly log: Logger,
    private readonly everyMs = 5000,
  ) {}

  async open(): Promise<void> {
    await this.check();
    this.timer = setInterval(() => void this.check(), this.everyMs);
    this.timer.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
  }

  health(): Health {
    // A refused write shows at once, not at the next look at the disk.
    const failure = this.store.storageFailure();
    if (failure && this.cell.get().state !== 'degraded') this.cell.set('degraded', failure.message);
    return this.cell.get();
  }

  /** Free bytes on the data directory's disk at the last look (null: unknown). */
  freeBytes(): number | null {
    return this.free;
  }

  /** Looks at the disk now: free space, and a failed store retried once there is room again. */
  async check(): Promise<void> {
    this.free = await freeBytes(this.netdir);
    let failure = this.store.storageFailure();
    if (failure && (this.free === null || this.free > 0)) {
      if (await this.store.retryAfterFailure()) {
        this.log.info({ free_bytes: this.free }, 'the disk takes writes again; state writes resumed');
        failure = undefined;
      } else failure = this.store.storageFailure();
    }
    const before = this.cell.get().state;
    if (failure) this.cell.set('degraded', failure.message);
    else if (this.free !== null && this.free < this.minFreeBytes)
      this.cell.set(
        'degraded',
        `low disk space in ${this.netdir}: ${formatBytes(this.free)} free, below minfreespace (${formatBytes(this.minFreeBytes)}); writes fail once the disk is full`,
      );
    else
      this.cell.set(
        'ok',
        `${this.netdir}: ${this.free === null ? 'free space unknown' : `${formatBytes(this.free)} free`}; state generation ${this.store.stateFacts().generation}`,
      );
    const now = this.cell.get();
    if (now.state !== before && before !== 'starting')
      (now.state === 'ok' ? this.log.info : this.log.warn).call(this.log, { detail: now.detail }, `state ${now.state}`);
    else if (before === 'starting' && now.state !== 'ok') this.log.warn({ detail: now.detail }, 'state degraded at start');
  }
}
