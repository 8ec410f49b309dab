// Subject and baseline measured in turns (subject, baseline, baseline, subject, …): on a shared machine the load
// from other work drifts over seconds, and taking turns gives both sides the same share of it, so a ratio measures
// the software, not the neighbours.

export async function inTurns<T>(rounds: number, subject: () => Promise<T>, baseline: () => Promise<T>): Promise<{ subject: T[]; baseline: T[] }> {
  const out = { subject: [] as T[], baseline: [] as T[] };
  for (let i = 0; i < rounds; i++) {
    if (i % 2 === 0) out.subject.push(await subject());
    out.baseline.push(await baseline());
    if (i % 2 === 1) out.subject.push(await subject());
  }
  return out;
}
