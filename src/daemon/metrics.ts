// Counters for the `metrics` RPC and, when -metricsport is set, a Prometheus endpoint at /metrics. One Registry
// per daemon (not prom-client's global one), handed to rooms so they add their own series.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CallObserver } from '../rpc/dispatcher.js';

export class DaemonMetrics implements CallObserver {
  readonly registry = new Registry();
  private readonly calls: Counter<'method' | 'transport' | 'outcome'>;
  private readonly latency: Histogram<'method'>;
  readonly connections: Gauge<'transport'>;
  readonly subscriptions: Gauge;
  readonly cutoffs: Counter;
  private server: Server | undefined;
  /** Read when metrics are collected, so gauges never go stale. */
  readonly sources: { connections?: () => { unix: number; ws: number }; subscriptions?: () => number } = {};

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'anyad_' });
    this.calls = new Counter({ name: 'anyad_rpc_calls_total', help: 'RPC calls by method, transport and outcome', labelNames: ['method', 'transport', 'outcome'], registers: [this.registry] });
    this.latency = new Histogram({ name: 'anyad_rpc_call_seconds', help: 'RPC handler time', labelNames: ['method'], buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers: [this.registry] });
    this.connections = new Gauge({ name: 'anyad_rpc_connections', help: 'Open RPC connections', labelNames: ['transport'], registers: [this.registry], collect: () => {
      const c = this.sources.connections?.();
      if (c) {
        this.connections.set({ transport: 'unix' }, c.unix);
        this.connections.set({ transport: 'ws' }, c.ws);
      }
    } });
    this.subscriptions = new Gauge({ name: 'anyad_subscriptions', help: 'Active event subscriptions', registers: [this.registry], collect: () => {
      const n = this.sources.subscriptions?.();
      if (n !== undefined) this.subscriptions.set(n);
    } });
    this.cutoffs = new Counter({ name: 'anyad_subscriber_cutoffs_total', help: 'Slow subscribers cut off', registers: [this.registry] });
  }

  // prom-client hashes label sets on every inc/observe; the per-label children are cached since this runs on
  // every call.
  private readonly callChildren = new Map<string, { inc(): void }>();
  private readonly latencyChildren = new Map<string, { observe(v: number): void }>();

  onCall(method: string, transport: string, outcome: 'ok' | 'error', seconds: number): void {
    const key = `${method}\u0000${transport}\u0000${outcome}`;
    let c = this.callChildren.get(key);
    if (!c) this.callChildren.set(key, (c = this.calls.labels(method, transport, outcome)));
    c.inc();
    let h = this.latencyChildren.get(method);
    if (!h) this.latencyChildren.set(method, (h = this.latency.labels(method)));
    h.observe(seconds);
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
