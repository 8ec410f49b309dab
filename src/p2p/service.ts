// The p2p service: the node key from the HSM room (waited for while the keystore is locked), the listener and its
// pending pool (listener.ts), dialing, the connected peers (each a
// wire-session.ts over a BOLT 8 transport, with link.ts's rate limit and routing), the
// persistent peers (peers.ts) reconnected with backoff, and the api other rooms send and receive messages through.

import { connect, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { Backoff } from '../core/backoff.js';
import { rpcError, RpcError } from '../core/errors.js';
import type { EventBus } from '../core/events.js';
import { HealthCell, type Service } from '../core/service.js';
import type { HsmApi, NodeKey } from '../hsm/api.js';
import type { MessageHandler, MessageTypes, P2pApi, PeerEvent } from './api.js';
import { formatHostPort } from './address.js';
import { PeerListener } from './listener.js';
import type { PeerBook } from './peers.js';
import { PeerLink } from './link.js';
import { PEER_CONNECTED, PEER_CUSTOMMSG, PEER_DISCONNECTED } from './topics.js';
import { CustomInbox } from './custommsg.js';
import { Delivery, MSG_DELIVER, MSG_DELIVERY_ACK, type DeliveryHandler } from './delivery.js';
import type { RoomDb, Store } from '../core/store.js';
import { acceptInbound, connectOutbound, type PeerTransport } from './transport.js';
import type { StaticKey } from './noise.js';
import { startWireSession } from './wire-session.js';
import { SESSION_TYPES } from './wire.js';

export interface P2pSettings {
  host: string;
  port: number;
  listen: boolean;
  maxPeers: number;
  maxPending: number;
  handshakeTimeoutMs: number;
  maxQueuedBytes: number;
  maxMsgRate: number;
  pingIntervalMs: number;
  chainHash: Buffer;
  maxOutboxBytes: number;
  maxOutboxPeers: number;
  resendIntervalMs: number;
}

interface Peer {
  pubkey: string;
  link: PeerLink;
  direction: 'inbound' | 'outbound';
  address: string;
  since: string;
}

/** How often a node key that is not there yet (a locked keystore) is asked for again. */
const KEY_RETRY_MS = 2000;

export class P2pService implements Service {
  readonly name = 'p2p';
  readonly requires = ['hsm'];
  private readonly cell = new HealthCell('starting', 'waiting for the node key');
  private key: NodeKey | undefined;
  private staticKey: StaticKey | undefined;
  private listener: PeerListener | undefined;
  private listening: { host: string; port: number } | undefined;
  private readonly peers = new Map<string, Peer>();
  private readonly dialing = new Map<string, Promise<Peer>>();
  private readonly reconnects = new Map<string, { backoff: Backoff; timer?: NodeJS.Timeout }>();
  private readonly handlers: Array<{ types: MessageTypes; handler: MessageHandler }> = [];
  private readonly peerWatchers = new Set<(e: PeerEvent) => void>();
  private bringUpTimer: NodeJS.Timeout | undefined;
  private resendTimer: NodeJS.Timeout | undefined;
  private closing = false;

  private readonly deliveryHandlers: Array<{ types: MessageTypes; handler: DeliveryHandler }> = [];
  readonly delivery: Delivery;
  readonly inbox: CustomInbox;

  constructor(private readonly o: { settings: P2pSettings; hsm: HsmApi; book: PeerBook; db: RoomDb; store: Pick<Store, 'batch'>; bus: EventBus; log: Logger }) {
    this.inbox = new CustomInbox(o.db, (m) => o.bus.publish(PEER_CUSTOMMSG, m));
    this.delivery = new Delivery({
      db: o.db,
      store: o.store,
      maxOutboxBytes: o.settings.maxOutboxBytes,
      maxOutboxPeers: o.settings.maxOutboxPeers,
      log: o.log,
      send: (pubkey, type, payload) => {
        const peer = this.peers.get(pubkey);
        return peer ? peer.link.send(type, payload) : Promise.reject(new Error('not connected'));
      },
      // A delivered type no room takes goes to the custom-message inbox (peer.custommsg), as Core Lightning's hook.
      handlerFor: (type) => this.deliveryHandlers.find(({ types }) => covers(types, type))?.handler ?? ((m) => this.inbox.take(m)),
    });
  }

  /** Whether a room takes delivered messages of this type. */
  deliveryTaken(type: number): boolean {
    return this.deliveryHandlers.some(({ types }) => covers(types, type));
  }

  /** Whether anyad speaks this type itself (BOLT 1, the envelope, a room's, raw or delivered): not for apps. */
  typeInUse(type: number): boolean {
    return SESSION_TYPES.has(type) || DELIVERY_TYPES.has(type) || this.handlerFor(type) !== undefined || this.deliveryTaken(type);
  }

  health(): ReturnType<HealthCell['get']> {
    return this.cell.get();
  }

  async open(): Promise<void> {
    await this.o.book.load();
    await this.delivery.load();
    await this.inbox.load();
    await this.bringUp();
    // Checked at a fraction of the interval, so a stale outbox waits at most 1.25 times it.
    const every = this.o.settings.resendIntervalMs;
    this.resendTimer = setInterval(() => this.delivery.resendStale((k) => this.peers.has(k), every), Math.max(250, every / 4));
    this.resendTimer.unref();
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.bringUpTimer) clearTimeout(this.bringUpTimer);
    if (this.resendTimer) clearInterval(this.resendTimer);
    for (const r of this.reconnects.values()) if (r.timer) clearTimeout(r.timer);
    await this.listener?.close();
    for (const p of this.peers.values()) p.link.close('anyad stopping');
    this.cell.set('stopped', 'closed');
  }

  /** Gets the node key (retried while the keystore is locked), then listens and reaches the persistent peers. */
  private async bringUp(): Promise<void> {
    if (this.closing) return;
    const retry = (state: 'degraded' | 'unavailable', detail: string): void => {
      this.cell.set(state, detail);
      this.bringUpTimer = setTimeout(() => void this.bringUp(), KEY_RETRY_MS);
      this.bringUpTimer.unref();
    };
    if (!this.key) {
      try {
        const key = await this.o.hsm.nodeKey();
        this.key = key;
        this.staticKey = { publicKey: key.publicKey, ecdh: async (theirs) => key.ecdh(Buffer.from(theirs)) };
        this.o.log.info({ node_id: key.publicKey.toString('hex') }, 'node key from the HSM');
      } catch (err) {
        const e = err as RpcError;
        if (e instanceof RpcError && e.message && e.code === -32017) {
          this.cell.set('unavailable', `no node key: ${e.message}`);
          return;
        }
        return retry('degraded', `waiting for the HSM's node key: ${e.message}`);
      }
    }
    if (this.o.settings.listen && !this.listening) {
      const { host, port } = this.o.settings;
      const listener = new PeerListener({ host, port, maxPending: this.o.settings.maxPending, log: this.o.log, handshake: (s) => this.inbound(s) });
      try {
        const a = await listener.listen();
        this.listener = listener;
        this.listening = { host: a.address, port: a.port };
        this.o.log.info({ node_id: this.nodeId(), host: a.address, port: a.port }, 'listening for peers');
      } catch (err) {
        return retry('degraded', `cannot listen for peers on ${formatHostPort(host, port)}: ${(err as Error).message}; retrying`);
      }
    }
    const where = this.listening ? `listening on ${formatHostPort(this.listening.host, this.listening.port)}` : 'not listening (p2p.listen=0)';
    this.cell.set('ok', `node ${this.nodeId()} ${where}`);
    for (const k of this.o.book.all()) this.scheduleReconnect(k.pubkey, 0);
  }

  nodeId(): string | undefined {
    return this.key?.publicKey.toString('hex');
  }

  info(): { pubkey: string | null; listening: { host: string; port: number } | null; peers: number; pending_handshakes: number } {
    return { pubkey: this.nodeId() ?? null, listening: this.listening ?? null, peers: this.peers.size, pending_handshakes: this.listener?.pendingCount() ?? 0 };
  }

  list(): Array<
    {
      pubkey: string;
      address: string;
      direction: 'inbound' | 'outbound' | null;
      connected: boolean;
      persistent: boolean;
      since: string | null;
      features: number[];
    } & ReturnType<Delivery['state']>
  > {
    const out = [...this.peers.values()].map((p) => ({
      pubkey: p.pubkey,
      address: p.address,
      direction: p.direction as 'inbound' | 'outbound' | null,
      connected: true,
      persistent: this.o.book.get(p.pubkey) !== undefined,
      since: p.since as string | null,
      features: p.link.features,
      ...this.delivery.state(p.pubkey),
    }));
    for (const k of this.o.book.all())
      if (!this.peers.has(k.pubkey))
        out.push({
          pubkey: k.pubkey,
          address: formatHostPort(k.host, k.port),
          direction: null,
          connected: false,
          persistent: true,
          since: null,
          features: [],
          ...this.delivery.state(k.pubkey),
        });
    return out.sort((a, b) => (a.pubkey < b.pubkey ? -1 : 1));
  }

  private needKey(): StaticKey {
    if (!this.staticKey) throw rpcError('BackendUnavailable', `the peer network has no node key yet: ${this.cell.get().detail}`, { service: 'p2p' });
    return this.staticKey;
  }

  /** peer.connect: dials (unless connected), then marks the peer persistent; answers once that is durable. */
  async connect(pubkey: string, host: string, port: number): Promise<ReturnType<P2pService['list']>[number]> {
    this.needKey();
    if (pubkey === this.nodeId()) throw rpcError('InvalidParams', `${pubkey} is this node's own key`);
    if (!this.peers.has(pubkey)) await this.dial(pubkey, host, port);
    await this.o.book.mark(pubkey, host, port);
    return this.list().find((p) => p.pubkey === pubkey)!;
  }

  /** peer.disconnect: unmarks and closes; NotFound when the peer is neither connected nor persistent. */
  async disconnect(pubkey: string): Promise<{ pubkey: string; was_connected: boolean; was_persistent: boolean }> {
    const wasPersistent = await this.o.book.unmark(pubkey);
    const r = this.reconnects.get(pubkey);
    if (r?.timer) clearTimeout(r.timer);
    this.reconnects.delete(pubkey);
    const peer = this.peers.get(pubkey);
    if (!peer && !wasPersistent) throw rpcError('NotFound', `no peer ${pubkey}: it is neither connected nor marked persistent`);
    peer?.link.close('peer.disconnect');
    return { pubkey, was_connected: peer !== undefined, was_persistent: wasPersistent };
  }

  private dial(pubkey: string, host: string, port: number): Promise<Peer> {
    const going = this.dialing.get(pubkey);
    if (going) return going;
    const p = this.dialOnce(pubkey, host, port).finally(() => this.dialing.delete(pubkey));
    this.dialing.set(pubkey, p);
    return p;
  }

  private async dialOnce(pubkey: string, host: string, port: number): Promise<Peer> {
    const key = this.needKey();
    const where = formatHostPort(host, port);
    const timeoutMs = this.o.settings.handshakeTimeoutMs;
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ host, port, noDelay: true });
      const t = setTimeout(
        () => (s.destroy(), reject(rpcError('BackendUnavailable', `cannot reach ${where}: no connection within ${timeoutMs} ms`, { service: 'p2p' }))),
        timeoutMs,
      );
      s.once('connect', () => (clearTimeout(t), resolve(s)));
      s.once('error', (err) => (clearTimeout(t), reject(rpcError('BackendUnavailable', `cannot reach ${where}: ${err.message}`, { service: 'p2p' }))));
    });
    socket.on('error', () => undefined);
    let transport: PeerTransport;
    try {
      transport = await connectOutbound(socket, key, Buffer.from(pubkey, 'hex'), {
        handshakeTimeoutMs: timeoutMs,
        maxQueuedBytes: this.o.settings.maxQueuedBytes,
      });
    } catch (err) {
      socket.destroy();
      throw rpcError(
        'BackendRejected',
        `the BOLT 8 handshake with ${pubkey}@${where} failed: ${(err as Error).message} (is ${pubkey.slice(0, 16)}… the node key of the node at ${where}?)`,
        { service: 'p2p' },
      );
    }
    try {
      return await this.establish(transport, 'outbound', where);
    } catch (err) {
      throw rpcError('BackendRejected', `the init exchange with ${pubkey}@${where} failed: ${(err as Error).message}`, { service: 'p2p' });
    }
  }

  private async inbound(socket: Socket): Promise<void> {
    const from = formatHostPort(socket.remoteAddress ?? '?', socket.remotePort ?? 0);
    try {
      if (!this.staticKey || this.closing) throw new Error('no node key');
      const transport = await acceptInbound(socket, this.staticKey, {
        handshakeTimeoutMs: this.o.settings.handshakeTimeoutMs,
        maxQueuedBytes: this.o.settings.maxQueuedBytes,
      });
      await this.establish(transport, 'inbound', from);
    } catch (err) {
      socket.destroy();
      this.o.log.info({ peer: from, reason: (err as Error).message }, 'inbound connection refused: handshake or init failed');
    }
  }

  /** Runs the init exchange on a fresh transport and makes it the peer's connection (replacing an older one). */
  private async establish(transport: PeerTransport, direction: Peer['direction'], address: string): Promise<Peer> {
    const pubkey = Buffer.from(transport.remotePublicKey).toString('hex');
    const log = this.o.log.child({ peer: pubkey });
    const session = await startWireSession(transport, {
      init: { globalfeatures: new Uint8Array(0), features: new Uint8Array(0), networks: [this.o.settings.chainHash] },
      initTimeoutMs: this.o.settings.handshakeTimeoutMs,
      knownMessage: (type) => DELIVERY_TYPES.has(type) || this.handlerFor(type) !== undefined,
      pingIntervalMs: this.o.settings.pingIntervalMs,
      pingTimeoutMs: this.o.settings.pingIntervalMs,
      chainHash: this.o.settings.chainHash,
    });
    const link = new PeerLink(session, {
      maxMsgRate: this.o.settings.maxMsgRate,
      deliver: async (type, payload) =>
        DELIVERY_TYPES.has(type) ? this.delivery.onMessage(pubkey, type, payload) : this.handlerFor(type)?.(pubkey, type, payload),
      log,
    });
    if (this.closing) throw link.fail('anyad stopping');
    if (!this.peers.has(pubkey) && this.peers.size >= this.o.settings.maxPeers) throw link.fail(`too many peers (p2p.maxpeers=${this.o.settings.maxPeers})`);
    const peer: Peer = { pubkey, link, direction, address, since: new Date().toISOString() };
    this.peers.get(pubkey)?.link.close('replaced by a new connection');
    this.peers.set(pubkey, peer);
    link.onClose((reason) => this.lost(peer, reason));
    const r = this.reconnects.get(pubkey);
    if (r?.timer) clearTimeout(r.timer);
    this.reconnects.delete(pubkey);
    log.info({ address, direction }, 'peer connected');
    this.o.bus.publish(PEER_CONNECTED, { pubkey, address, direction });
    this.notify({ pubkey, event: 'connected' });
    this.delivery.connected(pubkey);
    return peer;
  }

  private lost(peer: Peer, reason: string): void {
    if (this.peers.get(peer.pubkey) !== peer) return; // replaced by a newer connection
    this.peers.delete(peer.pubkey);
    this.o.log.info({ peer: peer.pubkey, reason }, 'peer disconnected');
    this.o.bus.publish(PEER_DISCONNECTED, { pubkey: peer.pubkey, reason });
    this.notify({ pubkey: peer.pubkey, event: 'disconnected', reason });
    if (!this.closing && this.o.book.get(peer.pubkey)) this.scheduleReconnect(peer.pubkey);
  }

  /** Dials a persistent peer after a backoff (1 s doubling to 60 s, reset by a connection) until it is connected. */
  private scheduleReconnect(pubkey: string, delayMs?: number): void {
    if (this.closing || this.peers.has(pubkey)) return;
    let r = this.reconnects.get(pubkey);
    if (r?.timer) return;
    if (!r) this.reconnects.set(pubkey, (r = { backoff: new Backoff(1000, 60_000) }));
    const entry = r;
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      const k = this.o.book.get(pubkey);
      if (!k || this.peers.has(pubkey) || this.closing) return;
      this.dial(pubkey, k.host, k.port).then(
        () => undefined,
        (err: Error) => {
          this.o.log.info({ peer: pubkey, address: formatHostPort(k.host, k.port), reason: err.message }, 'reconnecting to a persistent peer failed; retrying');
          this.scheduleReconnect(pubkey);
        },
      );
    }, delayMs ?? entry.backoff.next());
    entry.timer.unref();
  }

  private handlerFor(type: number): MessageHandler | undefined {
    return this.handlers.find(({ types }) => covers(types, type))?.handler;
  }

  private notify(e: PeerEvent): void {
    for (const w of this.peerWatchers) {
      try {
        w(e);
      } catch (err) {
        this.o.log.warn({ reason: (err as Error).message }, 'a peer watcher failed');
      }
    }
  }

  api(): P2pApi {
    return {
      nodeId: () => this.nodeId(),
      connected: () => [...this.peers.keys()],
      send: async (pubkey, type, payload) => {
        if (!Number.isInteger(type) || type < 0 || type > 65535 || SESSION_TYPES.has(type) || DELIVERY_TYPES.has(type))
          throw rpcError('InvalidParams', `message type ${type} is not one another room may send (0..65535, not BOLT 1's own)`);
        if (payload.length > 65533) throw rpcError('InvalidParams', `a payload of ${payload.length} bytes is over 65,533 (BOLT 8)`);
        const peer = this.peers.get(pubkey);
        if (!peer) throw rpcError('NotFound', `peer ${pubkey} is not connected`);
        try {
          await peer.link.send(type, payload);
        } catch (err) {
          const m = (err as Error).message;
          throw rpcError(/queue|queued/i.test(m) ? 'Busy' : 'BackendUnavailable', `sending to ${pubkey}: ${m}`, { service: 'p2p' });
        }
      },
      onMessage: (types, handler) => {
        const ranges = toRanges(types);
        for (const r of ranges)
          for (let t = r.from; t <= r.to; t++)
            if (SESSION_TYPES.has(t) || DELIVERY_TYPES.has(t) || this.handlerFor(t)) throw new Error(`message type ${t} is already taken`);
        const entry = { types, handler };
        this.handlers.push(entry);
        return () => void this.handlers.splice(this.handlers.indexOf(entry), 1);
      },
      deliver: (pubkey, type, payload, commitWith) => this.delivery.deliver(pubkey, type, payload, commitWith),
      onDelivered: (types, handler) => {
        const ranges = toRanges(types);
        for (const t of ranges) for (let x = t.from; x <= t.to; x++) if (this.deliveryTaken(x)) throw new Error(`delivered type ${x} is already taken`);
        const entry = { types, handler };
        this.deliveryHandlers.push(entry);
        return () => void this.deliveryHandlers.splice(this.deliveryHandlers.indexOf(entry), 1);
      },
      onPeer: (handler) => {
        this.peerWatchers.add(handler);
        return () => void this.peerWatchers.delete(handler);
      },
    };
  }
}

function toRanges(types: MessageTypes): Array<{ from: number; to: number }> {
  const ranges = Array.isArray(types) ? types.map((t: number) => ({ from: t, to: t })) : [types as { from: number; to: number }];
  for (const r of ranges)
    if (!Number.isInteger(r.from) || !Number.isInteger(r.to) || r.from > r.to || r.from < 0 || r.to > 65535)
      throw new Error(`bad message types ${r.from}..${r.to}`);
  return ranges;
}

const DELIVERY_TYPES: ReadonlySet<number> = new Set([MSG_DELIVER, MSG_DELIVERY_ACK]);

function covers(types: MessageTypes, type: number): boolean {
  if (Array.isArray(types)) return (types as readonly number[]).includes(type);
  const r = types as { from: number; to: number };
  return type >= r.from && type <= r.to;
}
