// The configuration as a room reads it: typed getters for the keys rooms declared (core/options.ts). daemon/config.ts
// parses the command line and anya.conf into one of these; a room never sees how.

import type { Network, OptionValue } from './options.js';

export interface Config {
  readonly network: Network;
  readonly datadir: string;
  /** The directory for this network's files (datadir itself on main). */
  readonly netdir: string;
  readonly confFile: string | undefined;
  str(key: string): string | undefined;
  /** A path option resolved against the network directory, or undefined when unset. */
  path(key: string): string | undefined;
  int(key: string): number;
  bool(key: string): boolean;
  list(key: string): string[];
  /**
   * The same configuration with some values replaced (a room that chooses a setting for the user, e.g. regtest's
   * embedded keystore); the replaced keys count as set.
   */
  withValues(overrides: Record<string, OptionValue>): Config;
  /** True when the user set the key (file or command line), false when the default applies. */
  isSet(key: string): boolean;
}
