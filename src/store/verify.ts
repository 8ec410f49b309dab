// Is this the state anyad last wrote? Compares three accounts of it: the state record beside LevelDB (record.ts),
// the identity, generation and counts the state keeps of itself (written in the same batches as the data), and
// the records really there (counted at open). Each disagreement is one problem in words, by room; the daemon
// refuses to start on any (with the ways on) unless the operator accepts the state as it is.

import type { StateRecord } from './record.js';
import type { StateFacts } from './store.js';

export interface StateCheck {
  /** What was found, one sentence each; empty when the state is the one anyad last wrote. */
  problems: string[];
  /** A state with nothing in it yet and no record: a first start. */
  fresh: boolean;
  /** A state with data but no identity yet and no record: written by an anyad from before states knew themselves. */
  legacy: boolean;
}

export function checkState(facts: StateFacts, counted: Record<string, number>, record: StateRecord | undefined): StateCheck {
  const problems: string[] = [];
  const totalCounted = Object.values(counted).reduce((a, b) => a + b, 0);
  if (!facts.id) {
    if (!record) return { problems, fresh: totalCounted === 0, legacy: totalCounted > 0 };
    problems.push(
      `the state folder holds no identity (${totalCounted} records) but the state record says state ${record.id} at generation ${record.generation} with ${describeCounts(record.counts)}: the state was removed or replaced`,
    );
    return { problems, fresh: false, legacy: false };
  }
  if (record) {
    if (record.id !== facts.id) {
      problems.push(`the state folder is state ${facts.id}, but the state record says anyad last wrote state ${record.id}: this is another state`);
    } else if (facts.generation < record.generation) {
      problems.push(
        `the state is at generation ${facts.generation}, older than generation ${record.generation} that anyad last wrote: writes were lost (a damaged log) or an older copy of the state was put back`,
      );
    } else if (facts.generation === record.generation) {
      for (const room of rooms(record.counts, facts.counts)) {
        const want = record.counts[room] ?? 0;
        const have = facts.counts[room] ?? 0;
        if (want !== have) problems.push(`room '${room}': the state counts ${have} records, the state record ${want}`);
      }
    }
  }
  for (const room of rooms(facts.counts, counted)) {
    const want = facts.counts[room] ?? 0;
    const have = counted[room] ?? 0;
    if (want !== have)
      problems.push(
        `room '${room}': ${have} records are there, but the state's own count says ${want}: ${have < want ? `${want - have} missing` : `${have - want} unaccounted for`}`,
      );
  }
  return { problems, fresh: false, legacy: false };
}

function rooms(a: Record<string, number>, b: Record<string, number>): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((r) => (a[r] ?? 0) !== 0 || (b[r] ?? 0) !== 0).sort();
}

export function describeCounts(counts: Record<string, number>): string {
  const parts = Object.entries(counts)
    .filter(([, n]) => n > 0)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([r, n]) => `${r} ${n}`);
  return parts.length ? `records ${parts.join(', ')}` : 'no records';
}
