// The declarations of methods (name, summary, params and result schemas, role, errors): data that the docs and
// the daemon read without the room's code; the handlers are bound in the room's methods module.

import { defineTopic } from '../core/events.js';
import { declareMethod, NoParams, type MethodDeclaration } from '../core/methods.js';
import { Type } from '@sinclair/typebox';
import { LOG_LEVELS } from './options.js';

export const DAEMON_READY = defineTopic({
  name: 'daemon.ready',
  summary: 'Every service has been opened; anyad is past warm-up.',
  data: Type.Object({ startup_ms: Type.Integer() }),
});

export const DAEMON_STOPPING = defineTopic({
  name: 'daemon.stopping',
  summary: 'anyad is shutting down; the connection will close.',
  data: Type.Object({ reason: Type.String() }),
});

export const DAEMON_TOPICS = [DAEMON_READY, DAEMON_STOPPING];

export const HealthSchema = Type.Object({ state: Type.String(), detail: Type.String(), since: Type.String() });

export const getinfo = declareMethod({
  name: 'getinfo',
  summary: 'Version, network, uptime, data directory, endpoints and the health of each service.',
  params: NoParams,
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
    rooms: Type.Record(Type.String(), Type.Record(Type.String(), Type.Unknown()), {
      description: "Facts of the rooms that give some, by room: p2p's node_id (this node's key on the peer network) and where it listens.",
    }),
    state: Type.Object(
      {
        id: Type.String({ description: 'The identity of the state (made once; also in the state record beside it).' }),
        generation: Type.Integer({ description: 'Synced writes the state has taken; only grows.' }),
        free_bytes: Type.Union([Type.Integer(), Type.Null()], { description: "Free space on the data directory's disk at the last look." }),
      },
      { description: 'The state in LevelDB and the disk it is on; services.state says whether writes work.' },
    ),
  }),
  role: 'readonly',
});

export const uptime = declareMethod({
  name: 'uptime',
  summary: 'Seconds since anyad started.',
  params: NoParams,
  result: Type.Integer(),
  role: 'readonly',
  duringWarmup: true,
});

export const health = declareMethod({
  name: 'health',
  summary: "Overall state (starting, ok, degraded) and each service's health; answers during warm-up.",
  params: NoParams,
  result: Type.Object({
    status: Type.Union([Type.Literal('starting'), Type.Literal('ok'), Type.Literal('degraded')]),
    stage: Type.Union([Type.String(), Type.Null()]),
    services: Type.Record(Type.String(), HealthSchema),
  }),
  role: 'readonly',
  duringWarmup: true,
});

export const stop = declareMethod({
  name: 'stop',
  summary: 'Shut anyad down cleanly: in-flight requests are answered, subscribers told, state flushed.',
  params: NoParams,
  result: Type.String(),
  role: 'admin',
  duringWarmup: true,
});

export const backup = declareMethod({
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
});

export const logging = declareMethod({
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
});

export const metrics = declareMethod({
  name: 'metrics',
  summary: "The daemon's counters (the same series -metricsport serves to Prometheus), as JSON.",
  params: NoParams,
  result: Type.Array(
    Type.Object(
      { name: Type.String(), help: Type.String(), type: Type.String(), values: Type.Array(Type.Object({}, { additionalProperties: true })) },
      { additionalProperties: true },
    ),
  ),
  role: 'readonly',
});

export const DAEMON_METHODS: readonly MethodDeclaration[] = [getinfo, uptime, health, stop, backup, logging, metrics];
