// anyad put together: config, log, state, RPC, and the rooms' services, opened in order and closed in reverse.
// The class holds no process-wide state (signals and exit are main.ts's business), so tests can run several.

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { DestinationStream, Level } from 'pino';
import type { Room, RoomApi } from '../core/room.js';
import { PACKAGE_DIR, VERSION } from '../core/version.js';
import { EventBus } from '../core/events.js';
import { RPC_TOPICS } from '../rpc/declarations.js';
import { rpcMethods } from '../rpc/methods.js';
import { RpcServer, type RpcEndpoints } from '../rpc/server.js';
import { BackupError, backupKey, readBackup, restoreInto, writeBackup, type StateFile } from '../store/backup.js';
import type { Store } from '../store/store.js';
import { adoptRestored, openState, StateService } from './state.js';
import { loadConfig, type Config } from './config.js';
import { captureConsole, createLogging, type LogHandle } from './logging.js';
import { checkServedAsDeclared } from './declared-api.js';
import { DAEMON_TOPICS } from './declarations.js';
import { daemonMethods } from './methods.js';
import { DaemonMetrics } from './metrics.js';
import { optionGroups } from './options.js';
import { Node, StartupError } from './node.js';
import { SdNotify } from './sdnotify.js';
import { DAEMON_READY } from './declarations.js';

export interface DaemonOptions {
  argv: readonly string[];
  rooms: readonly Room[];
  env?: NodeJS.ProcessEnv;
  /** Where the console log goes (stdout by default). */
  stdout?: DestinationStream;
  /**
   * The anyad process (not a test running a daemon in its own process): what a library prints with console.* goes
   * into the log as JSON, so stdout stays one JSON object per line (LDK's wasm bindings print a banner and the
   * Rust side's output).
   */
  captureConsole?: boolean;
}

/** A start that cannot go on: the message is for the operator, the daemon exits 1. */
export class FatalStartError extends Error {
  override name = 'FatalStartError';
}

export class Daemon {
  readonly startedAt = Date.now();
  private shuttingDown = false;
  private stopping: Promise<void> | undefined;
  private resolveDone!: (code: number) => void;
  /** Resolves with the exit code once the daemon has stopped. */
  readonly done = new Promise<number>((r) => (this.resolveDone = r));
  readonly bus = new EventBus();
  readonly metrics = new DaemonMetrics();
  readonly node: Node;
  readonly rpc: RpcServer;
  private readonly sd: SdNotify;
  private readonly stateService: StateService;

  private constructor(
    readonly config: Config,
    readonly logging: LogHandle,
    readonly store: Store,
    env: NodeJS.ProcessEnv,
  ) {
    this.bus.checkData(config.bool('rpccheckresults'));
    this.node = new Node(logging.child({ room: 'node' }));
    this.sd = new SdNotify(env);
    this.stateService = new StateService(store, config.netdir, config.int('minfreespace') * 1024 * 1024, logging.child({ room: 'state' }));
    this.rpc = new RpcServer(config, this.bus, logging.child({ room: 'rpc' }), {
      onCall: (m, t, o, s) => this.metrics.onCall(m, t, o, s),
      onCutoff: () => this.metrics.cutoffs.inc(),
    });
  }

  /**
   * Starts anyad and resolves once it is ready (every service opened or, for optional backends, given up on for
   * now). Throws ConfigError / FatalStartError when it cannot start; nothing is left running then.
   */
  static async start(opts: DaemonOptions): Promise<Daemon> {
    const groups = optionGroups(opts.rooms);
    const config = loadConfig({ argv: opts.argv, groups, ...(opts.env?.HOME ? { home: opts.env.HOME } : {}) });
    await mkdir(config.netdir, { recursive: true, mode: 0o750 });
    const logging = createLogging({
      level: config.str('loglevel') as Level,
      file: config.path('logfile'),
      console: config.bool('printtoconsole'),
      ...(opts.stdout ? { stdout: opts.stdout } : {}),
    });
    const log = logging.child({ room: 'daemon' });
    if (opts.captureConsole) captureConsole(logging.child({ room: 'console' }));
    let store: Store;
    const restore = config.path('restore');
    try {
      // The state may hold secrets (keystores, audit log): only anyad's user may read it (openState makes it 0700).
      // A state that is not the one anyad last wrote is refused here, by name (state.ts).
      store = await openState({
        netdir: config.netdir,
        accept: config.bool('acceptstate'),
        restoring: restore !== undefined,
        evidence: opts.rooms.flatMap((r) => r.stateEvidence?.(config) ?? []),
        log,
      });
    } catch (err) {
      log.error({ reason: (err as Error).message }, 'cannot open state');
      logging.flush();
      throw new FatalStartError((err as Error).message);
    }
    let daemon: Daemon;
    try {
      if (restore) {
        await restoreState(store, restore, config, log, stateFiles(opts.rooms, config));
        await adoptRestored(store, config.netdir);
      }
      daemon = new Daemon(config, logging, store, opts.env ?? process.env);
    } catch (err) {
      await store.close();
      logging.flush();
      throw new FatalStartError((err as Error).message);
    }
    await daemon.run(opts.rooms);
    return daemon;
  }

  private async run(rooms: readonly Room[]): Promise<void> {
    const log = this.logging.child({ room: 'daemon' });
    const { config, rpc, bus, node } = this;
    const roomInfo = new Map<string, () => Record<string, unknown>>();
    try {
      bus.declare('daemon', DAEMON_TOPICS);
      bus.declare('rpc', RPC_TOPICS);
      rpc.registry.register('rpc', rpcMethods({ registry: rpc.registry, bus, hub: rpc.hub, auth: rpc.auth, version: VERSION, tracker: rpc.tracker, log }));
      rpc.registry.register(
        'daemon',
        daemonMethods({
          version: VERSION,
          network: config.network,
          datadir: config.datadir,
          netdir: config.netdir,
          startedAt: this.startedAt,
          endpoints: () => rpc.endpoints,
          connections: () => rpc.tracker.count(),
          warmupStage: () => node.warmupStage(),
          services: () => node.health(),
          rooms: () => Object.fromEntries([...roomInfo].map(([name, info]) => [name, info()])),
          state: () => ({ ...this.store.stateFacts(), free_bytes: this.stateService.freeBytes() }),
          stop: (reason) => void this.stop(reason),
          backupDir: config.path('backupdir')!,
          backup: async (dest) =>
            writeBackup(this.store, dest, {
              network: config.network,
              version: VERSION,
              key: await backupKey(config.path('backupkeyfile')!, true),
              files: stateFiles(rooms, config),
            }),
          logLevel: () => this.logging.level(),
          setLogLevel: (l) => {
            this.logging.setLevel(l);
            log.info({ level: l }, 'log level changed');
          },
          metrics: this.metrics.registry,
        }),
      );
      // First of the services, opened with the state before anything listens: the disk the state lives on, watched
      // (health degraded when low or refusing writes).
      await this.stateService.open();
      node.addOpened(this.stateService);
      const apis = new Map<string, unknown>();
      const packageDir = PACKAGE_DIR;
      checkRequires(rooms);
      for (const room of rooms) {
        if (room.topics) bus.declare(room.name, room.topics);
        const required = new Set((room.requires ?? []).map((h) => h.room));
        const parts = await room.create({
          config,
          log: this.logging.child({ room: room.name }),
          store: this.store,
          bus,
          metrics: this.metrics.registry,
          version: VERSION,
          packageDir,
          use: <T>(handle: RoomApi<T>) => {
            if (!required.has(handle.room)) throw new Error(`room '${room.name}' uses room '${handle.room}' without listing it in requires`);
            return apis.get(handle.room) as T | undefined;
          },
        });
        if (parts.api !== undefined) apis.set(room.name, parts.api);
        if (parts.info) roomInfo.set(room.name, parts.info);
        if (parts.methods) {
          checkServedAsDeclared(room, parts.methods);
          rpc.registry.register(room.name, parts.methods);
        }
        if (parts.service) node.add(parts.service);
        for (const s of parts.services ?? []) node.add(s);
      }
      node.order(); // dependency problems are a start failure, found before anything listens
      const endpoints = await rpc.listen({ warmupStage: () => node.warmupStage(), shuttingDown: () => this.shuttingDown });
      this.metrics.sources.connections = () => ({ unix: rpc.tracker.count('unix'), ws: rpc.tracker.count('ws') });
      this.metrics.sources.subscriptions = () => rpc.hub.stats().subscriptions;
      log.info({ version: VERSION, network: config.network, netdir: config.netdir, ...describeEndpoints(endpoints) }, 'anyad serving RPC; opening services');
      await node.open((stage) => this.sd.status(stage));
      if (config.int('metricsport') > 0) {
        const addr = await this.metrics.serve(config.str('metricsbind')!, config.int('metricsport'));
        log.info({ host: addr.address, port: addr.port }, 'Prometheus metrics served');
      }
      const startupMs = Date.now() - this.startedAt;
      this.sd.ready(`serving on ${endpoints.socket ?? ''}${endpoints.ws ? ` ws://${endpoints.ws.host}:${endpoints.ws.port}` : ''}`);
      log.info({ startup_ms: startupMs }, 'anyad ready');
      bus.publish(DAEMON_READY, { startup_ms: startupMs });
    } catch (err) {
      log.error({ reason: (err as Error).message }, 'start failed');
      this.shuttingDown = true;
      await rpc.close().catch(() => undefined);
      await node.close().catch(() => undefined);
      await this.metrics.close();
      await this.store.close();
      this.sd.close();
      this.logging.flush();
      this.resolveDone(1);
      if (err instanceof FatalStartError) throw err;
      // A state taken with -acceptstate may still hold records that decode but that a room cannot use: name the way on.
      const accepted = config.bool('acceptstate') && err instanceof StartupError && / failed to open: /.test(err.message);
      throw new FatalStartError(
        accepted ? `${err.message}; a room cannot open on what -acceptstate left of the state: restore a backup with -restore=<file>` : (err as Error).message,
      );
    }
  }

  /** SIGHUP: reopen the log file and let services re-read what they can. */
  async reload(): Promise<void> {
    this.logging.reopen();
    this.logging.child({ room: 'daemon' }).info('SIGHUP: log reopened, services reloading');
    await this.node.reload();
  }

  /** Stops once, whoever asks (signal, stop RPC, test); later calls wait for the same stop. */
  stop(reason: string): Promise<void> {
    this.stopping ??= this.shutdown(reason);
    return this.stopping;
  }

  private async shutdown(reason: string): Promise<void> {
    const log = this.logging.child({ room: 'daemon' });
    log.info({ reason }, 'anyad stopping');
    this.sd.stopping(reason);
    this.rpc.stopAccepting();
    // From here new calls are refused with ShuttingDown; the ones already running are waited for.
    this.shuttingDown = true;
    const deadline = this.config.int('shutdowntimeout') * 1000;
    const left = await this.rpc.drain(deadline);
    if (left > 0) log.warn({ left }, 'shutdown deadline passed with requests still running');
    // Let answers that were just produced reach their sockets before the connections end.
    await new Promise((r) => setImmediate(r));
    await this.rpc.close();
    // Services get at least 5 s each, even with shutdowntimeout=0 (which only stops waiting for requests).
    await this.node.close(Math.max(deadline, 5000));
    await this.metrics.close();
    await this.store.close();
    log.info('anyad stopped');
    this.sd.close();
    this.logging.flush();
    this.resolveDone(0);
  }

  endpoints(): RpcEndpoints {
    return this.rpc.endpoints;
  }
}

function describeEndpoints(e: RpcEndpoints): Record<string, unknown> {
  return { socket: e.socket, ws: e.ws ? `${e.ws.tls ? 'wss' : 'ws'}://${e.ws.host}:${e.ws.port}/` : undefined };
}

/** The files rooms keep beside LevelDB, as their declarations say (no room is created for this). */
function stateFiles(rooms: readonly Room[], config: Config): StateFile[] {
  return rooms.flatMap((r) => r.stateFiles?.(config) ?? []);
}

async function restoreState(store: Store, file: string, config: Config, log: import('pino').Logger, files: StateFile[]): Promise<void> {
  try {
    const key = await backupKey(config.path('backupkeyfile')!, false);
    const contents = await readBackup(file, config.network, key);
    const keepAs = join(config.netdir, `state-before-restore-${new Date().toISOString().replace(/[:.]/g, '-')}.backup`);
    const r = await restoreInto(store, contents, keepAs, { network: config.network, version: VERSION, key, files });
    log.info({ file, entries: r.entries, files: r.files, previous: r.previous?.path }, 'state restored from backup');
  } catch (err) {
    if (err instanceof BackupError) throw new FatalStartError(`-restore: ${err.message}`);
    throw err;
  }
}

/**
 * Every room a room requires comes before it (rooms are created in order and use what earlier ones offered). A
 * required room this build does not compose at all is off, as an unconfigured one is: `use` answers undefined.
 */
function checkRequires(rooms: readonly Room[]): void {
  const names = rooms.map((r) => r.name);
  rooms.forEach((room, i) => {
    for (const h of room.requires ?? []) {
      if (names.indexOf(h.room) > i) throw new Error(`room '${room.name}' requires room '${h.room}', which comes after it`);
    }
  });
}
