// anyad's network names to bitcoinjs-lib's network parameters (addresses, key prefixes), for every room that
// needs them.
import * as bitcoin from 'bitcoinjs-lib';
import type { Network } from './options.js';

export function bitcoinNetwork(n: Network): bitcoin.Network {
  return n === 'main' ? bitcoin.networks.bitcoin : n === 'regtest' ? bitcoin.networks.regtest : bitcoin.networks.testnet;
}
