// LDK's Rust compiled to wasm (the `lightningdevkit` package): the binary is read from node_modules once per process
// (the bindings hold global state), nothing is downloaded.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as ldk from 'lightningdevkit';

let ready: Promise<void> | undefined;

export function initLdk(): Promise<void> {
  if (!ready) {
    const require = createRequire(import.meta.url);
    const pkg = dirname(require.resolve('lightningdevkit/package.json'));
    ready = ldk.initializeWasmFromBinary(readFileSync(join(pkg, 'liblightningjs.wasm')));
  }
  return ready;
}

/** A block or transaction hash as LDK holds it (internal byte order) from its displayed hex, and back. */
export const hashBytes = (hex: string): Uint8Array => Uint8Array.from(Buffer.from(hex, 'hex').reverse());
export const hashHex = (bytes: Uint8Array): string => Buffer.from(bytes).reverse().toString('hex');
export const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
