// Counters for the `metrics` RPC and, when -metricsport is set, a Prometheus endpoint at /metrics. One Registry
// per daemon (not prom-client's global one), handed to rooms so they add their own series.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { CallObserver } from '../rpc/dispatcher.js';

const LATENCY_BUCKETS = [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5];

interface MethodStats {
  /** Calls by transport, then outcome (no label string is built per call). */
  calls: Map<string, { ok: number; error: number }>;
  /** buckets[i]: calls that took at most LATENCY_BUCKETS[i] and more than the bucket before; the last: slower. */
  buckets: number[];
  sum: number;
  count: number;
}

export class DaemonMetrics implements CallObserver {
  readonly registry = new Registry();
  /** Per method: calls by transport and outcome, and the latency histogram (per-bucket counts, summed when read). */
  private readonly perMethod = new Map<string, MethodStats>();
  readonly connections: Gauge<'transport'>;
  readonly subscriptions: Gauge;
  readonly cutoffs: Counter;
  private server: Server | undefined;
  /** Read when metrics are collected, so gauges never go stale. */
  readonly sources: { connections?: () => { unix: number; ws: number }; subscriptions?: () => number } = {};

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'anyad_' });
    // The two per-call series are kept in plain maps and shaped for prom-client only when read: its own
    // Counter/Histogram hash the label set on every call, about a third of the dispatcher's time per request.
    this.registry.registerMetric({
      name: 'anyad_rpc_calls_total',
      help: 'RPC calls by method, transport and outcome',
      type: 'counter',
      aggregator: 'sum',
      get: async () => ({
        name: 'anyad_rpc_calls_total',
        help: 'RPC calls by method, transport and outcome',
        type: 'counter',
        aggregator: 'sum',
        values: [...this.perMethod].flatMap(([method, m]) =>
          [...m.calls].flatMap(([transport, n]) =>
            (['ok', 'error'] as const).filter((outcome) => n[outcome] > 0).map((outcome) => ({ labels: { method, transport, outcome }, value: n[outcome] })),
          ),
        ),
      }),
      reset: () => this.perMethod.clear(),
    } as never);
    this.registry.registerMetric({
      name: 'anyad_rpc_call_seconds',
      help: 'RPC handler time',
      type: 'histogram',
      aggregator: 'sum',
      get: async () => ({ name: 'anyad_rpc_call_seconds', help: 'RPC handler time', type: 'histogram', aggregator: 'sum', values: this.latencyValues() }),
      reset: () => this.perMethod.clear(),
    } as never);
    this.connections = new Gauge({
      name: 'anyad_rpc_connections',
      help: 'Open RPC connections',
      labelNames: ['transport'],
      registers: [this.registry],
      collect: () => {
        const c = this.sources.connections?.();
        if (c) {
          this.connections.set({ transport: 'unix' }, c.unix);
          this.connections.set({ transport: 'ws' }, c.ws);
        }
      },
    });
    this.subscriptions = new Gauge({
      name: 'anyad_subscriptions',
      help: 'Active event subscriptions',
      registers: [this.registry],
      collect: () => {
        const n = this.sources.subscriptions?.();
        if (n !== undefined) this.subscriptions.set(n);
      },
    });
    this.cutoffs = new Counter({ name: 'anyad_subscriber_cutoffs_total', help: 'Slow subscribers cut off', registers: [this.registry] });
  }

  /** Called once per RPC call: one map lookup and a few increments (it runs on every request). */
  onCall(method: string, transport: string, outcome: 'ok' | 'error', seconds: number): void {
    let m = this.perMethod.get(method);
    if (!m) this.perMethod.set(method, (m = { calls: new Map(), buckets: new Array<number>(LATENCY_BUCKETS.length + 1).fill(0), sum: 0, count: 0 }));
    let byOutcome = m.calls.get(transport);
    if (!byOutcome) m.calls.set(transport, (byOutcome = { ok: 0, error: 0 }));
    byOutcome[outcome]++;
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]!) i++;
    m.buckets[i]!++;
    m.sum += seconds;
    m.count++;
  }

  /** Prometheus histogram series: cumulative buckets with le, then +Inf, sum and count, per method. */
  private latencyValues(): Array<{ labels: Record<string, string | number>; value: number; metricName: string }> {
    const out: Array<{ labels: Record<string, string | number>; value: number; metricName: string }> = [];
    for (const [method, h] of this.perMethod) {
      let cumulative = 0;
      LATENCY_BUCKETS.forEach((le, i) => {
        cumulative += h.buckets[i]!;
        out.push({ labels: { method, le }, value: cumulative, metricName: 'anyad_rpc_call_seconds_bucket' });
      });
      out.push({ labels: { method, le: '+Inf' }, value: h.count, metricName: 'anyad_rpc_call_seconds_bucket' });
      out.push({ labels: { method }, value: h.sum, metricName: 'anyad_rpc_call_seconds_sum' });
      out.push({ labels: { method }, value: h.count, metricName: 'anyad_rpc_call_seconds_count' });
    }
    return out;
  }

  async serve(host: string, port: number): Promise<AddressInfo> {
    const server = createServer((req, res) => {
      if (req.method !== 'GET' || req.url !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    this.server = server;
    return server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    if (!this.server) return;
    const s = this.server;
    this.server = undefined;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
