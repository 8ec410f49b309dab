// A room is one subsystem: its config keys, its event topics, and (given the daemon's shared parts) its service
// and RPC methods. The daemon composes rooms; rooms never reach into each other's files. What one room offers
// another is its api, named by a typed handle (`roomApi`) that the offering room exports from its api.ts: the
// using room lists the handle in `requires` and gets the api from `ctx.use(handle)`, typed, without a cast.

import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from './config.js';
import type { EventBus, TopicSpec } from './events.js';
import type { MethodDeclaration, MethodSpec } from './methods.js';

import type { StateFile, Store } from './store.js';
import type { OptionGroup } from './options.js';
import type { Service } from './service.js';

export interface RoomContext {
  config: Config;
  log: Logger;
  store: Store;
  bus: EventBus;
  metrics: Registry;
  version: string;
  /**
   * The api a room this one `requires` offered, or undefined when that room is off (not configured). Asking for a
   * room not listed in `requires` throws: the daemon composes rooms from what they declare.
   */
  use<T>(handle: RoomApi<T>): T | undefined;
  /** The directory the package was installed in (for bundled files such as models/). */
  packageDir: string;
}

/** Names a room's api and carries its type: made once, in the offering room's api.ts. */
export interface RoomApi<T> {
  readonly room: string;
  /** Never set: it only carries T, so `use(handle)` answers the api's type. */
  readonly api?: T;
}

export const roomApi = <T>(room: string): RoomApi<T> => ({ room });

export interface RoomParts {
  service?: Service;
  /** For a room with several independent backends (e.g. Core Lightning and LND), each opened on its own. */
  services?: Service[];
  methods?: MethodSpec[];
  /** What other rooms may call (e.g. the HSM's addVeto, the bitcoin room's fee snapshot). */
  api?: unknown;
  /** Facts getinfo shows under the room's name (e.g. the p2p room's node key); never a secret. */
  info?: () => Record<string, unknown>;
}

export interface Room {
  name: string;
  options?: OptionGroup;
  /** The rooms whose api this room uses; each comes earlier in the daemon's order (checked at start). */
  requires?: ReadonlyArray<RoomApi<unknown>>;
  topics?: TopicSpec[];
  /**
   * Every method the room may serve, as data: the docs, `help` and `rpc.discover` are written from these, read
   * without starting the room. What create() returns must be these declarations bound to handlers (`implement`).
   */
  methods?: readonly MethodDeclaration[];
  /** Files the room keeps beside LevelDB that a backup must carry (read from config only; no room code runs). */
  stateFiles?(config: Config): StateFile[];
  /**
   * Files whose presence shows that a state existed (a keystore, an audit head): a state folder that is missing or
   * empty beside one of them is refused at start rather than made anew. Read from config only; no room code runs.
   */
  stateEvidence?(config: Config): string[];
  create(ctx: RoomContext): RoomParts | Promise<RoomParts>;
}
