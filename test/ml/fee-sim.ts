// A simulated fee market (in process, no node), for the estimator tests, the retraining tests and the bench:
// arrivals at log-normal fee rates with bursts and quiet spells, a miner that takes the highest fee rates into
// blocks of a fixed size (as bcoin's and Core's block templates do, without ancestors), and waiting transactions
// evicted after a while. Deterministic: seeded (mulberry32).

import type { Observation } from '../../src/ml/fee-observations.js';
import { rng } from '../../src/ml/mlp.js';

/** Blocks 1..n of a market; returns the observations as FeeObservations would have stored them. */
export function simulate(n: number, seed = 7, capacity = 20_000, start = 0): Observation[] {
  const rand = rng(seed);
  const normal = (): number => Math.sqrt(-2 * Math.log(rand() || 1e-12)) * Math.cos(2 * Math.PI * rand());
  // arrivals per block: Poisson, by its normal approximation (the rates here are 30 and more)
  const poisson = (l: number): number => Math.max(0, Math.round(l + Math.sqrt(l) * normal()));
  const all: Observation[] = [];
  let pool: Observation[] = [];
  let id = 0;
  // arrival times: one a second from `start` (ms since the epoch), in order
  let t = 0;
  for (let h = 0; h < n; h++) {
    // interval h: arrivals while h is the tip — a burst every 10th block, quiet every 7th
    const lambda = h % 10 === 0 ? 300 : h % 7 === 0 ? 30 : 100;
    for (let k = poisson(lambda); k > 0; k--) {
      const o: Observation = {
        t: `tx${id++}`,
        r: Math.round(Math.max(1, Math.exp(1.6 + 0.9 * normal())) * 1000) / 1000,
        v: 110 + Math.floor(rand() * 200),
        a: start + 1000 * t++,
        h,
      };
      all.push(o);
      pool.push(o);
    }
    // block h + 1: the highest fee rates that fit
    pool.sort((a, b) => b.r - a.r);
    let used = 0;
    const rest: Observation[] = [];
    for (const o of pool) {
      if (used + o.v <= capacity) {
        used += o.v;
        o.c = h + 1;
      } else if (h + 1 - o.h >= 48) {
        o.g = h + 1;
        o.x = 'evicted';
      } else rest.push(o);
    }
    pool = rest;
  }
  return all;
}
