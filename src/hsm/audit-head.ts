// The audit log's head file, outside LevelDB (issue 26 item 7): the sequence number and hash of the log's last
// durable entry and a MAC over both under a label of its own, replaced by write-sync-rename after each commit's batch
// is durable, never before. It may lag behind the log by the commits in flight (that is no rollback); a head file
// ahead of the log, or naming an entry the log does not have, or without a valid MAC, is a cut or a restore.

import { open } from 'node:fs/promises';
import { replaceFileDurably } from '../core/files.js';
import type { RoomDb } from '../core/store.js';
import { headMacInput, seqKey, type AuditEntry, type AuditHead, type AuditMac } from './audit-chain.js';

/** The head file's record: the head and its MAC (absent in files of older builds, which also had `from`). */
export interface HeadRecord extends AuditHead {
  mac?: string;
  from?: AuditHead;
}

export class AuditHeadFile {
  /**
   * @param file where the head file lives
   * @param db the hsm sublevel the log is in (to look up the entry the file names)
   * @param mac the provider's audit MAC (undefined while its key is out of reach)
   */
  constructor(private readonly opts: { file: string; db: RoomDb; mac: AuditMac }) {}

  /**
   * Compares the head file with the database, whose log ends at `end`. The file may lag (it is written after each
   * batch); a file ahead of the log, or naming an entry the log does not hold, is a rollback or a cut.
   */
  async check(file: HeadRecord, end: number): Promise<{ expected: number; reason: string } | undefined> {
    const at = async (h: AuditHead): Promise<boolean> => h.seq === 0 || ((await this.opts.db.get(seqKey(h.seq))) as AuditEntry | undefined)?.hash === h.hash;
    // (An older build wrote the file before its batch and named the commit in flight: a log at its start is whole.)
    if (file.from && end === file.from.seq && end < file.seq)
      return (await at(file.from))
        ? undefined
        : { expected: file.from.seq, reason: `entry ${file.from.seq} is not the one the head file recorded: the log was replaced` };
    if (end < file.seq)
      return { expected: file.seq, reason: `the log ends at ${end} but the head file says ${file.seq}: entries were removed, or an older state was restored` };
    return (await at(file)) ? undefined : { expected: file.seq, reason: `entry ${file.seq} is not the one the head file recorded: the log was replaced` };
  }

  /**
   * The head file's MAC: undefined when it is the audit key's, 'out of reach' when the key is, else the reason. A
   * file without one is accepted only where the log has no commit of this build either (an upgrade's first start).
   */
  async checkMac(file: HeadRecord): Promise<string | 'out of reach' | undefined> {
    const want = await this.opts.mac(headMacInput(file));
    if (!want) return 'out of reach';
    if (file.mac === undefined) {
      const last = file.seq === 0 ? undefined : ((await this.opts.db.get(seqKey(file.seq))) as AuditEntry | undefined);
      if (last?.from === undefined) return undefined;
      return `the head file (entry ${file.seq}) carries no MAC although the log's commits do: it was rewritten, so entries cut from the end cannot be ruled out`;
    }
    return want.toString('hex') === file.mac
      ? undefined
      : `the head file (entry ${file.seq}) carries a MAC the provider's audit key did not make: it was rewritten, so entries cut from the end cannot be ruled out`;
  }

  async read(): Promise<HeadRecord | undefined> {
    let text: string;
    try {
      const fh = await open(this.opts.file, 'r');
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
    let h: HeadRecord;
    try {
      h = JSON.parse(text) as HeadRecord;
    } catch {
      throw new Error(`${this.opts.file} is not an audit head file`);
    }
    const valid = (x: AuditHead | undefined): boolean => x !== undefined && Number.isInteger(x.seq) && typeof x.hash === 'string';
    if (!valid(h) || (h.from !== undefined && !valid(h.from)) || (h.mac !== undefined && typeof h.mac !== 'string'))
      throw new Error(`${this.opts.file} is not an audit head file`);
    return h;
  }

  /**
   * Replaces the head file: a temp file written and synced, renamed over the file, the directory synced. A failure
   * at any step leaves the previous file whole (and removes the temp file).
   */
  async write(h: AuditHead): Promise<void> {
    const mac = await this.opts.mac(headMacInput(h));
    if (!mac) return;
    await replaceFileDurably(this.opts.file, `${JSON.stringify({ seq: h.seq, hash: h.hash, mac: mac.toString('hex') })}\n`);
  }
}
