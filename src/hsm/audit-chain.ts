// The audit log's entries and how they are chained and keyed: the shapes audit.ts writes and verify() reads, the
// entry hash (over sequence, time, event, key, detail and the previous hash) and the inputs of the MACs made with
// the provider's audit key. Shared by the log (audit.ts) and its head file (audit-head.ts).

import { createHash } from 'node:crypto';

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
    /** A keystore written from recovery words (hsm.restorekeystore); the words are never in the entry. */
    | 'restore'
    | 'rollback'
    | 'orphan'
    | 'secret'
    /** A start with -acceptstate took a state that did not match its record (issue 34): its problems and counts. */
    | 'state_accepted';
  key: string | null;
  /** What happened; `journaled: true` when it was recorded while the audit key was out of reach (see the top). */
  detail: Record<string, unknown>;
  prev: string;
  hash: string;
  /** HMAC-SHA256 with the provider's audit key over `from` and the hash, hex, on a commit's last entry; else null. */
  mac: string | null;
  /** On a MAC'd entry: the first entry its MAC covers (its commit's first). Absent on entries of older builds. */
  from?: number;
}

export interface AuditHead {
  seq: number;
  hash: string;
}

export interface AuditVerdict {
  ok: boolean;
  entries: number;
  /** Entries carrying a MAC checked against the provider's key (one per commit). */
  keyed: number;
  /** Entries after the last MAC'd one, which no MAC covers (a break, except in a log of an older build). */
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

export const GENESIS = '0'.repeat(64);
/** The most entries one commit carries (a bound on one batch, not on throughput). */
export const MAX_GROUP = 256;
export const seqKey = (n: number): string => `a:${String(n).padStart(12, '0')}`;

export function entryHash(e: Omit<AuditEntry, 'hash' | 'mac' | 'from'>): string {
  return createHash('sha256')
    .update(JSON.stringify([e.seq, e.time, e.event, e.key, e.detail, e.prev]))
    .digest('hex');
}
/** Entries of older builds: a MAC over the hash alone, taken to cover every entry since the previous MAC. */
export const macInputV1 = (hash: string): Buffer => Buffer.from(`anyad-audit-v1:${hash}`);
/** A commit's MAC: over its first sequence number and its last entry's hash, so it covers exactly from..seq. */
export const macInput = (from: number, hash: string): Buffer => Buffer.from(`anyad-audit-v2:${from}:${hash}`);
/** The head file's MAC, under a label of its own: no entry's MAC can be copied into a head file. */
export const headMacInput = (h: AuditHead): Buffer => Buffer.from(`anyad-audit-head-v1:${h.seq}:${h.hash}`);
