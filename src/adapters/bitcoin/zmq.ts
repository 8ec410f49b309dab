// Bitcoin Core's ZMQ notifications (hashblock, rawtx, sequence), with sequence-gap detection: every message carries
// a 32-bit little-endian counter per topic; a jump means messages were lost, and the watcher re-reads the chain.
// ZMQ only makes the watcher faster; polling stays on underneath, so a silent or lost socket costs latency only.

import type { Logger } from 'pino';
import { createRequire } from 'node:module';
import type { Subscriber } from 'zeromq';

const require = createRequire(import.meta.url);

export interface ZmqEndpoints {
  hashblock?: string | undefined;
  rawtx?: string | undefined;
  sequence?: string | undefined;
}

export interface ZmqHandlers {
  onBlock(hashHex: string): void;
  onRawTx(raw: Buffer): void;
  /** A sequence message (block connected/disconnected, mempool change): something changed, look again. */
  onSequence(): void;
  onGap(topic: string, expected: number, got: number): void;
}

export class ZmqListener {
  private readonly sockets: Subscriber[] = [];
  private readonly lastSeq = new Map<string, number>();
  /** When the last message of any topic arrived (ms since epoch), for chain.getinfo and silence detection. */
  lastMessageAt: number | undefined;

  constructor(
    private readonly endpoints: ZmqEndpoints,
    private readonly handlers: ZmqHandlers,
    private readonly log: Logger,
  ) {}

  get configured(): boolean {
    return Boolean(this.endpoints.hashblock || this.endpoints.rawtx || this.endpoints.sequence);
  }

  start(): void {
    // Core may publish several topics on one endpoint: one socket per endpoint, subscribed to its topics.
    const byEndpoint = new Map<string, string[]>();
    for (const topic of ['hashblock', 'rawtx', 'sequence'] as const) {
      const ep = this.endpoints[topic];
      if (ep) byEndpoint.set(ep, [...(byEndpoint.get(ep) ?? []), topic]);
    }
    for (const [ep, topics] of byEndpoint) {
      // zeromq's native addon is loaded only when a ZMQ endpoint is configured.
      const { Subscriber: Sub } = require('zeromq') as typeof import('zeromq');
      const sock = new Sub({ receiveHighWaterMark: 10_000 });
      sock.connect(ep);
      for (const t of topics) sock.subscribe(t);
      this.sockets.push(sock);
      void this.read(sock, ep);
    }
  }

  close(): void {
    for (const s of this.sockets) s.close();
    this.sockets.length = 0;
  }

  private async read(sock: Subscriber, ep: string): Promise<void> {
    try {
      for await (const frames of sock) {
        const [topicBuf, body, seqBuf] = frames as [Buffer, Buffer, Buffer?];
        const topic = topicBuf.toString();
        this.lastMessageAt = Date.now();
        if (seqBuf && seqBuf.length === 4) this.checkSequence(topic, seqBuf.readUInt32LE(0));
        if (topic === 'hashblock' && body.length === 32) this.handlers.onBlock(body.toString('hex'));
        else if (topic === 'rawtx') this.handlers.onRawTx(body);
        else if (topic === 'sequence') this.handlers.onSequence();
      }
    } catch (err) {
      if (!sock.closed) this.log.warn({ endpoint: ep, reason: (err as Error).message }, 'zmq socket failed; polling continues');
    }
  }

  private checkSequence(topic: string, seq: number): void {
    const last = this.lastSeq.get(topic);
    this.lastSeq.set(topic, seq);
    if (last === undefined) return;
    const expected = (last + 1) >>> 0;
    if (seq !== expected) this.handlers.onGap(topic, expected, seq);
  }
}
