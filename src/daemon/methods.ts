// Daemon-wide methods (no namespace): getinfo, uptime, health, stop, backup, logging, metrics.

import * as D from './declarations.js';
import { mkdir } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import type { Level } from 'pino';
import type { Registry } from 'prom-client';
import type { Health } from '../core/service.js';
import { rpcError } from '../core/errors.js';
import { implement, type MethodSpec } from '../core/methods.js';
import type { RpcEndpoints } from '../rpc/server.js';
import { BackupError, type BackupSummary } from '../store/backup.js';

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
  /** The rooms' own facts (RoomParts.info), by room. */
  rooms: () => Record<string, Record<string, unknown>>;
  /** The state's identity and generation, and the free space on its disk. */
  state: () => { id: string; generation: number; free_bytes: number | null };
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
    implement(D.getinfo, () => ({
      version: f.version,
      network: f.network,
      uptime: uptime(),
      datadir: f.datadir,
      netdir: f.netdir,
      endpoints: f.endpoints(),
      connections: f.connections(),
      services: f.services(),
      rooms: f.rooms(),
      state: (({ id, generation, free_bytes }) => ({ id, generation, free_bytes }))(f.state()),
    })),
    implement(D.uptime, () => uptime()),
    implement(D.health, () => {
      const services = f.services();
      const stage = f.warmupStage() ?? null;
      const status: 'starting' | 'ok' | 'degraded' = stage !== null ? 'starting' : Object.values(services).every((h) => h.state === 'ok') ? 'ok' : 'degraded';
      return { status, stage, services };
    }),
    implement(D.stop, () => {
      // Answer first; the shutdown waits for this very answer to be sent.
      setImmediate(() => f.stop('stop RPC'));
      return 'anyad stopping';
    }),
    implement(D.backup, async ({ destination }) => {
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
    }),
    implement(D.logging, ({ level }) => {
      if (level) f.setLogLevel(level);
      return { level: f.logLevel() };
    }),
    implement(D.metrics, async () => (await f.metrics.getMetricsAsJSON()) as never),
  ];
}
