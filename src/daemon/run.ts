// Runs anyad as a process: -help and -version, start, signals (SIGTERM/SIGINT stop, SIGHUP reload), exit code.
// Exit codes: 0 clean stop, 1 could not start (bad config, locked datadir, a required service failed).

import type { Room } from '../core/room.js';
import { VERSION } from '../core/version.js';
import { ConfigError, helpText } from './config.js';
import { Daemon, FatalStartError } from './daemon.js';
import { optionGroups } from './options.js';

export async function runDaemon(argv: string[], rooms: readonly Room[]): Promise<number> {
  if (argv.some((a) => /^--?(help|h|\?)$/.test(a))) {
    process.stdout.write(`anyad ${VERSION}\n\n${helpText(optionGroups(rooms))}\n`);
    return 0;
  }
  if (argv.some((a) => /^--?version$/.test(a))) {
    process.stdout.write(`anyad version ${VERSION}\n`);
    return 0;
  }
  // Handlers go in before the start, so a signal during start-up is never the default (fatal) action: a stop
  // request waits for the start to finish and then stops cleanly; a reload during start-up has nothing to do.
  let daemon: Daemon | undefined;
  let pendingStop: string | undefined;
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => (daemon ? void daemon.stop(sig) : (pendingStop ??= sig)));
  process.on('SIGHUP', () => void daemon?.reload());
  try {
    daemon = await Daemon.start({ argv, rooms, captureConsole: true });
  } catch (err) {
    if (err instanceof ConfigError || err instanceof FatalStartError) process.stderr.write(`Error: ${err.message}\n`);
    else process.stderr.write(`Error: unexpected failure while starting: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
  if (pendingStop) void daemon.stop(pendingStop);
  return daemon.done;
}

/** The process entry: run, then exit with the code (explicitly, so no stray handle can keep a stopped daemon alive). */
export function main(rooms: readonly Room[]): void {
  runDaemon(process.argv.slice(2), rooms).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`Error: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
