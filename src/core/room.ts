// A room is one subsystem: its config keys, its event topics, and (given the daemon's shared parts) its service
// and RPC methods. The daemon composes rooms; rooms never reach into each other's files.

import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from '../daemon/config.js';
import type { EventBus, TopicSpec } from '../rpc/events.js';
import type { MethodDeclaration, MethodSpec } from '../rpc/registry.js';
import type { StateFile } from '../store/backup.js';
import type { Store } from '../store/store.js';
import type { OptionGroup } from './options.js';
import type { Service } from './service.js';

export interface RoomContext {
  config: Config;
  log: Logger;
  store: Store;
  bus: EventBus;
  metrics: Registry;
  version: string;
  /** The public interface another room offered (rooms are created in order, so only earlier rooms are there). */
  use<T>(room: string): T | undefined;
  /** The directory the package was installed in (for bundled files such as models/). */
  packageDir: string;
}

export interface RoomParts {
  service?: Service;
  /** For a room with several independent backends (e.g. Core Lightning and LND), each opened on its own. */
  services?: Service[];
  methods?: MethodSpec[];
  /** What other rooms may call (e.g. the HSM's addVeto, the bitcoin room's fee snapshot). */
  api?: unknown;
}

export interface Room {
  name: string;
  options?: OptionGroup;
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
