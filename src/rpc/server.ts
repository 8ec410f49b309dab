// The RPC room put together: one registry, one dispatcher, both transports, credentials and subscriptions.
// Methods are registered before listen(); from listen() on the daemon answers (with -28 while it warms up).

import { readFile, unlink } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Config } from '../core/config.js';
import { Authenticator } from './auth.js';
import { ConnectionTracker } from './connections.js';
import { Dispatcher, type CallObserver, type DaemonState } from './dispatcher.js';
import type { EventBus } from '../core/events.js';
import { MethodRegistry } from './registry.js';
import { SubscriptionHub } from './subscriptions.js';
import { UnixTransport } from './transports/unix.js';
import { WsTransport } from './transports/ws.js';

export interface RpcEndpoints {
  socket?: string;
  ws?: { host: string; port: number; tls: boolean };
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export class RpcServer {
  readonly registry = new MethodRegistry();
  readonly tracker: ConnectionTracker;
  readonly auth: Authenticator;
  readonly hub: SubscriptionHub;
  private dispatcher: Dispatcher | undefined;
  private unix: UnixTransport | undefined;
  private ws: WsTransport | undefined;
  private cookiePath: string | undefined;
  readonly endpoints: RpcEndpoints = {};
  private stoppedAccepting = false;

  constructor(
    private readonly config: Config,
    bus: EventBus,
    private readonly log: Logger,
    private readonly observer?: CallObserver & { onCutoff?(): void },
  ) {
    checkBindSafety(config);
    this.tracker = new ConnectionTracker(config.int('rpcmaxconnections'), config.int('rpcmaxunauthenticated'));
    this.auth = new Authenticator(config.list('rpcauth'));
    this.hub = new SubscriptionHub(bus, {
      maxQueueBytes: config.int('rpcsubscriberqueue'),
      maxPerConnection: config.int('rpcmaxsubscriptions'),
      onCutoff: (c, queued) => {
        this.log.warn({ peer: c.peer, transport: c.transport, queued }, 'slow subscriber cut off');
        this.observer?.onCutoff?.();
      },
    });
    this.tracker.onClose((c) => {
      this.hub.dropConnection(c);
      this.dispatcher?.forget(c);
    });
  }

  /** Starts answering on the configured transports. `state` tells the dispatcher about warm-up and shutdown. */
  async listen(state: DaemonState): Promise<RpcEndpoints> {
    const c = this.config;
    this.dispatcher = new Dispatcher(
      this.registry,
      state,
      {
        maxBatch: c.int('rpcmaxbatch'),
        ratePerSecond: c.int('rpcratelimit'),
        checkResults: c.bool('rpccheckresults'),
        maxPendingBytes: c.int('rpcmaxpending'),
      },
      this.log,
      this.observer,
    );
    const maxMessageBytes = c.int('rpcmaxmessagesize');
    const pending = { maxPendingBytes: c.int('rpcmaxpending'), pendingTimeoutMs: c.int('rpcpendingtimeout') * 1000 };
    const socketPath = c.path('rpcsocket');
    if (socketPath) {
      this.unix = new UnixTransport(
        { path: socketPath, mode: parseInt(c.str('rpcsocketmode')!, 8), maxMessageBytes, ...pending },
        this.tracker,
        this.dispatcher,
        this.log,
      );
      await this.unix.listen();
      this.endpoints.socket = socketPath;
    }
    if (c.bool('rpcws')) {
      this.cookiePath = c.path('rpccookiefile')!;
      await this.auth.writeCookie(this.cookiePath);
      const certPath = c.path('rpctlscert');
      const keyPath = c.path('rpctlskey');
      const tls = certPath && keyPath ? { cert: await readPem(certPath, 'rpctlscert'), key: await readPem(keyPath, 'rpctlskey') } : undefined;
      this.ws = new WsTransport(
        {
          host: c.str('rpcbind')!,
          port: c.int('rpcport'),
          maxMessageBytes,
          ...pending,
          allowedOrigins: c.list('rpcallowedorigin'),
          ...(tls ? { tls } : {}),
        },
        this.auth,
        this.tracker,
        this.dispatcher,
        this.log,
      );
      let addr: AddressInfo;
      try {
        addr = await this.ws.listen();
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        // The common first-day failure (another anyad, or another program, on the port): say how to get out of it.
        if (e.code === 'EADDRINUSE')
          throw new Error(
            `the WebSocket port ${c.str('rpcbind')}:${c.int('rpcport')} is taken (EADDRINUSE: another anyad, or another program): choose another with -rpcport=<port> (rpcport= in anya.conf), or run without the WebSocket with -norpcws`,
          );
        throw err;
      }
      this.endpoints.ws = { host: addr.address, port: addr.port, tls: tls !== undefined };
    }
    return this.endpoints;
  }

  stopAccepting(): void {
    if (this.stoppedAccepting) return;
    this.stoppedAccepting = true;
    this.unix?.stopAccepting();
    this.ws?.stopAccepting();
  }

  async drain(ms: number): Promise<number> {
    return this.dispatcher ? this.dispatcher.drain(ms) : 0;
  }

  inFlight(): number {
    return this.dispatcher?.inFlight() ?? 0;
  }

  /** Last step of shutdown: tell subscribers, close every connection, remove the socket and cookie files. */
  async close(): Promise<void> {
    this.stopAccepting();
    this.hub.closeAll('daemon.stopping', { reason: 'anyad is shutting down' });
    this.hub.close();
    await Promise.all([this.unix?.closeAll(), this.ws?.closeAll()]);
    await this.unix?.removeSocket();
    if (this.cookiePath) await unlink(this.cookiePath).catch(() => undefined);
  }
}

/** Refuses a WebSocket on a non-loopback address without TLS, unless the operator said so explicitly. */
function checkBindSafety(c: Config): void {
  if (!c.bool('rpcws')) return;
  const bind = c.str('rpcbind')!;
  const hasTls = c.path('rpctlscert') !== undefined && c.path('rpctlskey') !== undefined;
  if ((c.path('rpctlscert') !== undefined) !== (c.path('rpctlskey') !== undefined)) throw new Error('rpctlscert and rpctlskey must be set together');
  if (!LOOPBACK.has(bind) && !hasTls && !c.bool('rpcallowinsecure')) {
    throw new Error(`rpcbind=${bind} is not a loopback address: set rpctlscert and rpctlskey, or rpcallowinsecure=1 to send credentials in clear`);
  }
}

async function readPem(path: string, key: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new Error(`${key}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}
