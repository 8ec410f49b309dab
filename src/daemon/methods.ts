// Daemon-wide methods (no namespace): getinfo, uptime, health, stop, backup, logging, metrics.

import { mkdir } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { Type } from '@sinclair/typebox';
import type { Level } from 'pino';
import type { Registry } from 'prom-client';
import type { Health } from '../core/service.js';
import { rpcError } from '../rpc/errors.js';
import type { TopicSpec } from '../rpc/events.js';
import { defineMethod, type MethodSpec } from '../rpc/registry.js';
import type { RpcEndpoints } from '../rpc/server.js';
import { BackupError, type BackupSummary } from '../store/backup.js';
import { LOG_LEVELS } from './options.js';

export const DAEMON_TOPICS: TopicSpec[] = [
  { name: 'daemon.ready', summary: 'Every service has been opened; anyad is past warm-up.', data: Type.Object({ startup_ms: Type.Integer() }) },
  { name: 'daemon.stopping', summary: 'anyad is shutting down; the connection will close.', data: Type.Object({ reason: Type.String() }) },
];

const HealthSchema = Type.Object({ state: Type.String(), detail: Type.String(), since: Type.String() });

export interface DaemonFacts {
  version: string;
  network: string;
  datadir: string;
  netdir: string;
  startedAt: number;
  endpoints: () => RpcEndpoints;
  connections: () => number;
  warmupStage: () => string | undefined;
  services: () => Record<string, Health>;
  stop: (reason: string) => void;
  backup: (dest: string) => Promise<BackupSummary>;
  /** The only directory backups are written to (backupdir). */
  backupDir: string;
  logLevel: () => Level;
  setLogLevel: (l: Level) => void;
  metrics: Registry;
}

export function daemonMethods(f: DaemonFacts): MethodSpec[] {
  const uptime = (): number => Math.floor((Date.now() - f.startedAt) / 1000);
  return [
    defineMethod({
      name: 'getinfo',
      summary: 'Version, network, uptime, data directory, endpoints and the health of each service.',
      params: Type.Object({}, { additionalProperties: false }),
      result: Type.Object({
        version: Type.String(),
        network: Type.String(),
        uptime: Type.Integer({ description: 'seconds' }),
        datadir: Type.String(),
        netdir: Type.String(),
        endpoints: Type.Object({
          socket: Type.Optional(Type.String()),
          ws: Type.Optional(Type.Object({ host: Type.String(), port: Type.Integer(), tls: Type.Boolean() })),
        }),
        connections: Type.Integer(),
        services: Type.Record(Type.String(), HealthSchema),
      }),
      role: 'readonly',
      handler: () => ({
        version: f.version,
        network: f.network,
        uptime: uptime(),
        datadir: f.datadir,
        netdir: f.netdir,
        endpoints: f.endpoints(),
        connections: f.connections(),
        services: f.services(),
      }),
    }),
    defineMethod({
      name: 'uptime',
      summary: 'Seconds since anyad started.',
      params: Type.Object({}, { additionalProperties: false }),
      result: Type.Integer(),
      role: 'readonly',
      duringWarmup: true,
      handler: () => uptime(),
    }),
    defineMethod({
      name: 'health',
      summary: "Overall state (starting, ok, degraded) and each service's health; answers during warm-up.",
      params: Type.Object({}, { additionalProperties: false }),
      result: Type.Object({
        status: Type.Union([Type.Literal('starting'), Type.Literal('ok'), Type.Literal('degraded')]),
        stage: Type.Union([Type.String(), Type.Null()]),
        services: Type.Record(Type.String(), HealthSchema),
      }),
      role: 'readonly',
      duringWarmup: true,
      handler: () => {
        const services = f.services();
        const stage = f.warmupStage() ?? null;
        const status: 'starting' | 'ok' | 'degraded' = stage !== null ? 'starting' : Object.values(services).every((h) => h.state === 'ok') ? 'ok' : 'degraded';
        return { status, stage, services };
      },
    }),
    defineMethod({
      name: 'stop',
      summary: 'Shut anyad down cleanly: in-flight requests are answered, subscribers told, state flushed.',
      params: Type.Object({}, { additionalProperties: false }),
      result: Type.String(),
      role: 'admin',
      duringWarmup: true,
      handler: () => {
        // Answer first; the shutdown waits for this very answer to be sent.
        setImmediate(() => f.stop('stop RPC'));
        return 'anyad stopping';
      },
    }),
    defineMethod({
      name: 'backup',
      summary:
        'Write a consistent snapshot of the whole state (and the keystore) to a new file in backupdir (mode 0600), keyed with backupkeyfile; start from it with anyad -restore=FILE.',
      params: Type.Object(
        {
          destination: Type.String({
            minLength: 1,
            maxLength: 4096,
            description: 'A file name in backupdir (or an absolute path inside it); an existing file is never overwritten.',
          }),
        },
        { additionalProperties: false },
      ),
      result: Type.Object({
        path: Type.String(),
        entries: Type.Integer(),
        bytes: Type.Integer(),
        hmac: Type.String({ description: 'HMAC-SHA256 of the backup with the backup key.' }),
        files: Type.Array(Type.String(), { description: 'State files carried besides LevelDB (hsm.keystore).' }),
      }),
      errors: ['Conflict'],
      role: 'admin',
      handler: async ({ destination }) => {
        const dir = resolve(f.backupDir);
        const path = resolve(dir, destination);
        // Confined to backupdir: an admin app cannot make anyad write the state anywhere else.
        if (dirname(path) !== dir || basename(path).startsWith('.'))
          throw rpcError('InvalidParams', `destination must be a file name in backupdir (${dir}), got '${destination}'`);
        await mkdir(dir, { recursive: true, mode: 0o700 });
        try {
          return await f.backup(path);
        } catch (err) {
          if (err instanceof BackupError) throw rpcError(/already exists/.test(err.message) ? 'Conflict' : 'InvalidParams', err.message);
          throw err;
        }
      },
    }),
    defineMethod({
      name: 'logging',
      summary: 'Get the log level, or set it (until the next restart).',
      params: Type.Object(
        {
          level: Type.Optional(
            Type.Union(
              LOG_LEVELS.map((l) => Type.Literal(l)),
              { description: 'New level.' },
            ),
          ),
        },
        { additionalProperties: false },
      ),
      result: Type.Object({ level: Type.String() }),
      role: 'admin',
      handler: ({ level }) => {
        if (level) f.setLogLevel(level);
        return { level: f.logLevel() };
      },
    }),
    defineMethod({
      name: 'metrics',
      summary: "The daemon's counters (the same series -metricsport serves to Prometheus), as JSON.",
      params: Type.Object({}, { additionalProperties: false }),
      result: Type.Array(
        Type.Object(
          { name: Type.String(), help: Type.String(), type: Type.String(), values: Type.Array(Type.Object({}, { additionalProperties: true })) },
          { additionalProperties: true },
        ),
      ),
      role: 'readonly',
      handler: async () => (await f.metrics.getMetricsAsJSON()) as never,
    }),
  ];
}
