// Runs a Daemon inside the test process (no signals, no exit), with its log lines captured.

import { Writable } from 'node:stream';
import type { Room } from '../../src/core/room.js';
import { Daemon } from '../../src/daemon/daemon.js';
import type { LogLine } from './daemon.js';

export class LogCapture extends Writable {
  readonly lines: LogLine[] = [];
  private waiters: Array<{ pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = [];
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    for (const text of chunk.toString().split('\n')) {
      if (!text) continue;
      const l = JSON.parse(text) as LogLine;
      this.lines.push(l);
      for (const w of [...this.waiters])
        if (w.pred(l)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(l);
        }
    }
    cb();
  }
  waitFor(pred: (l: LogLine) => boolean): Promise<LogLine> {
    const found = this.lines.find(pred);
    return found ? Promise.resolve(found) : new Promise((resolve) => this.waiters.push({ pred, resolve }));
  }
}

export function startInProcess(datadir: string, rooms: Room[], args: string[] = []): { started: Promise<Daemon>; logs: LogCapture } {
  const logs = new LogCapture();
  // No embedded regtest chain or keystore, where the rooms that would make them are in this daemon at all.
  const has = (name: string): boolean => rooms.some((r) => r.name === name);
  const off = [...(has('bitcoin') ? ['-noembeddedchain'] : []), ...(has('hsm') ? ['-noembeddedkeystore'] : [])];
  const started = Daemon.start({
    argv: ['-regtest', `-datadir=${datadir}`, '-rpcport=0', '-rpccheckresults', ...off, ...args],
    rooms,
    stdout: logs as never,
    env: {},
  });
  return { started, logs };
}
