// One party of a two-party contract in the DLC tests: an anyad on the shared bcoin regtest node with its own software
// keystore (keystore-party.ts) and a keystore address to fund it, and the call its tests make (a numeric contract's
// offer, accept and sign make and check hundreds of adaptor signatures: seconds, more under load).

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BcoinNode } from './bcoin.js';
import { unixChannel, type Channel } from './channel.js';
import { startDaemon, type RunningDaemon } from './daemon.js';
import { keystorePartyArgs } from './keystore-party.js';

export interface Party {
  d: RunningDaemon;
  ch: Channel;
  address: string;
}

/** The method's result, or an Error naming the method and the error it answered. */
export async function call<T>(ch: Channel, method: string, params?: unknown): Promise<T> {
  const r = await ch.call(method, params, undefined, 120_000);
  if (r.error) throw new Error(`${method}: ${r.error.code} ${r.error.message}`);
  return r.result as T;
}

/**
 * Starts `name`'s anyad in `dir` (its passphrase file made there on a fresh start) and makes its coin key; a restart
 * (fresh false) only reconnects.
 */
export async function startParty(dir: string, node: BcoinNode, name: string, opts: { extra?: string[]; fresh?: boolean } = {}): Promise<Party> {
  const fresh = opts.fresh ?? true;
  const pf = join(dir, `${name}.pass`);
  if (fresh) await writeFile(pf, `${name}'s keystore passphrase\n`, { mode: 0o600 });
  const d = await startDaemon(join(dir, name), { args: keystorePartyArgs(node, pf, opts.extra ?? []) });
  const ch = await unixChannel(d.socket);
  if (!fresh) return { d, ch, address: '' };
  const key = await call<{ id: string }>(ch, 'hsm.generatekey', { label: `${name} coins` });
  const pub = await call<{ addresses: { p2wpkh: string } }>(ch, 'hsm.getpubkey', { key: key.id });
  return { d, ch, address: pub.addresses.p2wpkh };
}
