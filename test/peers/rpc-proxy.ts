// An HTTP JSON-RPC proxy in front of the regtest node that can misbehave on purpose: fail the next calls of a
// method (a JSON-RPC error, an HTTP 500, or a dropped connection, the three ways a real bitcoind call fails in
// transit or under load), and rewrite answers the way another node implementation shapes them (e.g. bcoin 1.0.2's
// getblockheader `confirmations`, which for a stale block is not -1 as Bitcoin Core's is, see Core's
// rpc/blockchain.cpp blockheaderToJSON: `confirmations = -1` when the block is not in the active chain).
// What it does not prove: the timing of real network faults, or any answer shape it is not told to produce.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export type Fault = 'rpc-error' | 'http-500' | 'drop';

export class RpcProxy {
  private server: Server | undefined;
  port = 0;
  private readonly faults = new Map<string, Array<Fault>>();
  private readonly rewrites = new Map<string, (result: unknown, params: unknown[]) => unknown>();
  /** Calls per method that went through or failed here. */
  readonly calls = new Map<string, number>();

  constructor(private readonly upstreamPort: number) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server.address() as { port: number }).port;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }

  /** The next `n` calls of `method` fail this way. */
  failNext(method: string, n: number, fault: Fault): void {
    this.faults.set(method, [...(this.faults.get(method) ?? []), ...Array<Fault>(n).fill(fault)]);
  }

  rewrite(method: string, f: ((result: unknown, params: unknown[]) => unknown) | undefined): void {
    if (f) this.rewrites.set(method, f);
    else this.rewrites.delete(method);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    let parsed: { method?: string; params?: unknown[]; id?: unknown };
    try {
      parsed = JSON.parse(body.toString('utf8')) as typeof parsed;
    } catch {
      parsed = {};
    }
    const method = parsed.method ?? '';
    this.calls.set(method, (this.calls.get(method) ?? 0) + 1);
    const fault = this.faults.get(method)?.shift();
    if (fault === 'drop') return void req.socket.destroy();
    if (fault === 'http-500') return void res.writeHead(500).end('internal error');
    if (fault === 'rpc-error') {
      res.writeHead(500, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ result: null, error: { code: -1, message: 'injected failure' }, id: parsed.id ?? null }));
    }
    const up = await fetch(`http://127.0.0.1:${this.upstreamPort}/`, {
      method: 'POST',
      headers: { authorization: req.headers.authorization ?? '', 'content-type': 'application/json' },
      body,
    });
    const text = await up.text();
    const rw = this.rewrites.get(method);
    if (!rw || up.status !== 200) {
      res.writeHead(up.status, { 'content-type': 'application/json' });
      return void res.end(text);
    }
    const answer = JSON.parse(text) as { result: unknown; error: unknown; id: unknown };
    if (answer.error === null) answer.result = rw(answer.result, parsed.params ?? []);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(answer));
  }
}
