// What the p2p tests that run real anyads share: the daemon flags (a software keystore, no chain, quick pings) and a
// free TCP port to pin a daemon's peer listener to across its restarts.

import { createServer } from 'node:net';

export const BASE = ['-hsm.provider=software', '-hsm.kdfcost=12', '-hsm.policydelay=0', '-nobitcoind.enable', '-noml.enable', '-p2p.pinginterval=5'];

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
