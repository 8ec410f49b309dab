// The systemd notify protocol: READY=1 when serving, STATUS= lines while starting, STOPPING=1, and WATCHDOG=1 at
// half the interval systemd asks for. Node cannot send Unix datagrams by itself, so the small native
// `unix-dgram` binding carries them. Without NOTIFY_SOCKET (not under systemd) every call is a no-op.

import { createRequire } from 'node:module';

interface DgramSocket {
  send(buf: Buffer, offset: number, length: number, path: string, cb?: (err?: Error) => void): void;
  on(event: 'error', cb: (err: Error) => void): void;
  close(): void;
}

export class SdNotify {
  private readonly socketPath: string | undefined;
  private sock: DgramSocket | undefined;
  private watchdog: NodeJS.Timeout | undefined;

  constructor(env: NodeJS.ProcessEnv = process.env) {
    const p = env.NOTIFY_SOCKET;
    // An abstract socket (leading "@") needs a NUL in the path, which the binding cannot pass; systemd's own
    // notify socket is a file path, so this only matters for unusual supervisors.
    this.socketPath = p && p.startsWith('/') ? p : undefined;
    const usec = Number(env.WATCHDOG_USEC);
    const watchdogPid = env.WATCHDOG_PID ? Number(env.WATCHDOG_PID) : process.pid;
    if (this.socketPath && usec > 0 && watchdogPid === process.pid) {
      this.watchdog = setInterval(() => this.send('WATCHDOG=1'), Math.max(500, usec / 2000));
      this.watchdog.unref();
    }
  }

  get enabled(): boolean {
    return this.socketPath !== undefined;
  }

  ready(status: string): void {
    this.send(`READY=1\nSTATUS=${status}\nMAINPID=${process.pid}`);
  }
  status(status: string): void {
    this.send(`STATUS=${status}`);
  }
  stopping(status: string): void {
    if (this.watchdog) clearInterval(this.watchdog);
    this.send(`STOPPING=1\nSTATUS=${status}`);
  }
  close(): void {
    if (this.watchdog) clearInterval(this.watchdog);
    this.sock?.close();
    this.sock = undefined;
  }

  private send(message: string): void {
    if (!this.socketPath) return;
    if (!this.sock) {
      const require = createRequire(import.meta.url);
      const dgram = require('unix-dgram') as { createSocket(type: 'unix_dgram'): DgramSocket };
      this.sock = dgram.createSocket('unix_dgram');
      this.sock.on('error', () => undefined);
    }
    const buf = Buffer.from(message);
    this.sock.send(buf, 0, buf.length, this.socketPath);
  }
}
