// The arguments of an anyad that is one party of a two-party contract in the tests and benchmarks (DLC, state
// channels): connected to the shared bcoin regtest node, its own software keystore (a cheap KDF: test funds), no
// policy delay, no ML room.

import type { BcoinNode } from './bcoin.js';

export function keystorePartyArgs(node: BcoinNode, passphraseFile: string, extra: string[] = []): string[] {
  return [
    `-bitcoind.rpcport=${node.port}`,
    `-bitcoind.rpccookiefile=${node.cookieFile}`,
    '-bitcoind.pollinterval=100',
    '-hsm.provider=software',
    '-hsm.kdfcost=12',
    '-hsm.policydelay=0',
    `-hsm.passphrasefile=${passphraseFile}`,
    '-noml.enable',
    ...extra,
  ];
}
