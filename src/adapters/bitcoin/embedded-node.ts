// The embedded regtest chain's process (started by embedded-chain.ts with an IPC channel): opens the regtest node
// and says "ready" over IPC. It dies with anyad: when the IPC channel closes (anyad stopped, crashed or was killed
// with SIGKILL, which no handler in anyad could catch) it closes the node and exits.
// Usage (by anyad only): node embedded-node.js <port> <apikey> <chain dir>

import { openRegtestNode } from './regtest-node.js';

const [port, apiKey, prefix] = process.argv.slice(2);
let closing: Promise<void> | undefined;
const stop = (): Promise<void> =>
  (closing ??= (async () => {
    await regtest?.close().catch(() => undefined);
    process.exit(0);
  })());
process.on('disconnect', () => void stop());
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
// Orphaned between fork and IPC setup: no parent to serve.
if (!process.send) process.exit(2);
const regtest = await openRegtestNode({ port: Number(port), apiKey: apiKey!, prefix: prefix! }).catch((err: Error) => {
  process.send!({ error: err.message });
  process.exit(1);
});
process.send({ ready: regtest.height() });
