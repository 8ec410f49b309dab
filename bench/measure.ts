// What the benchmark sections share: rounding, latency percentiles, and an RPC call that throws on an error.

import type { Channel } from '../test/helpers/channel.js';

/** Rounded to three decimals (the figures' precision in the README table and docs/bench.json). */
export const r3 = (x: number): number => Math.round(x * 1000) / 1000;

/** p50 and p99 of a set of latencies in ms. */
export function latency(xs: number[]): { p50_ms: number; p99_ms: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { p50_ms: r3(s[Math.floor(s.length / 2)]!), p99_ms: r3(s[Math.min(s.length - 1, Math.floor(s.length * 0.99))]!) };
}

/** One RPC call over a channel, its result, or an Error naming the method. */
export async function call<T>(ch: Channel, method: string, params?: unknown): Promise<T> {
  const r = await ch.call(method, params, undefined, 60_000);
  if (r.error) throw new Error(`${method}: ${r.error.message}`);
  return r.result as T;
}
