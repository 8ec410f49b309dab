// The daemon's own option groups and the full list anyad reads. Kept free of heavy imports (pino, prom-client)
// because anya-cli loads it too, to find the socket and cookie where anyad puts them.

import type { OptionGroup } from '../core/options.js';
import type { Room } from '../core/room.js';
import { RPC_OPTIONS } from '../rpc/options.js';
import { BASE_OPTIONS } from './config.js';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;

export const LOG_OPTIONS: OptionGroup = {
  title: 'Logging',
  options: [
    { key: 'loglevel', type: 'enum', values: LOG_LEVELS, default: 'info', description: 'Least severe level written.' },
    { key: 'logfile', type: 'path', description: 'Also write the log to this file (relative to the network directory); SIGHUP reopens it.' },
    { key: 'printtoconsole', type: 'bool', default: true, description: 'Write the log to stdout (journald under systemd).' },
  ],
};

export const METRICS_OPTIONS: OptionGroup = {
  title: 'Metrics',
  options: [
    {
      key: 'metricsport',
      type: 'int',
      default: 0,
      min: 0,
      max: 65535,
      description: 'Serve Prometheus metrics on http://metricsbind:metricsport/metrics; 0 turns it off.',
    },
    { key: 'metricsbind', type: 'string', default: '127.0.0.1', description: 'Address of the Prometheus endpoint.' },
  ],
};

/** Every option group anyad knows, in the order of -help and anya.conf.example. */
export function optionGroups(rooms: readonly Room[]): OptionGroup[] {
  return withRoomGroups(rooms.flatMap((r) => (r.options ? [r.options] : [])));
}

/** The daemon's groups followed by the rooms' (given as groups, e.g. ROOM_OPTIONS, so no room is loaded). */
export function withRoomGroups(roomGroups: readonly OptionGroup[]): OptionGroup[] {
  return [BASE_OPTIONS, LOG_OPTIONS, RPC_OPTIONS, METRICS_OPTIONS, ...roomGroups];
}
