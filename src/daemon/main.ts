#!/usr/bin/env node
// anyad's entry point: -help and -version, then start, then wait for a signal or the stop RPC.
// Exit codes: 0 clean stop, 1 could not start (bad config, locked datadir, a required service failed).

import { ConfigError, helpText } from './config.js';
import { Daemon, FatalStartError } from './daemon.js';
import { optionGroups } from './options.js';
import { ROOMS } from './rooms.js';
import { VERSION } from '../core/version.js';

async function main(argv: string[]): Promise<number> {
  if (argv.some((a) => /^--?(help|h|\?)$/.test(a))) {
    process.stdout.write(`anyad ${VERSION}\n\n${helpText(optionGroups(ROOMS))}\n`);
    return 0;
  }
  if (argv.some((a) => /^--?version$/.test(a))) {
    process.stdout.write(`anyad version ${VERSION}\n`);
    return 0;
  }
  let daemon: Daemon;
  try {
    daemon = await Daemon.start({ argv, rooms: ROOMS });
  } catch (err) {
    if (err instanceof ConfigError) process.stderr.write(`Error: ${err.message}\n`);
    else if (err instanceof FatalStartError) process.stderr.write(`Error: ${err.message}\n`);
    else process.stderr.write(`Error: unexpected failure while starting: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
  const stopOn = (sig: NodeJS.Signals): void => {
    process.on(sig, () => void daemon.stop(sig));
  };
  stopOn('SIGTERM');
  stopOn('SIGINT');
  process.on('SIGHUP', () => void daemon.reload());
  return daemon.done;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`Error: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
