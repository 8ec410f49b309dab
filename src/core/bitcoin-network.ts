// anyad's network names to bitcoinjs-lib's network parameters (addresses, key prefixes), for every room that
// needs them.
import * as bitcoin from 'bitcoinjs-lib';
import type { Network } from './options.js';

export function bitcoinNetwork(n: Network): bitcoin.Network {
  return n === 'main' ? bitcoin.networks.bitcoin : n === 'regtest' ? bitcoin.networks.regtest : bitcoin.networks.testnet;
}

/** Genesis block hashes by network (display order). */
const GENESIS: Record<Network, string> = {
  main: '000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f',
  test: '000000000933ea01ad0ee984209779baaec3ced90fa3f408719526f8d77f4943',
  signet: '00000008819873e925422c1ff0f99f7cc9bbb232af63a077a480a3633bee1ef6',
  regtest: '0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206',
};

/** A network's genesis hash in internal byte order: BOLT 0's chain_hash, what DLC and channel messages name. */
export const chainHash = (n: Network): string => Buffer.from(GENESIS[n], 'hex').reverse().toString('hex');

/**
 * An address's output script, hex. Throws on an address that is not valid for the network. Segwit v0 addresses
 * (P2WPKH, P2WSH: what wallets hand out) are decoded directly: bitcoinjs-lib's toOutputScript tries base58 first and
 * pays for the exception, ~80 µs an address against ~4 µs, which matters when a wallet backend watches 100,000 of
 * them. Every other kind goes through toOutputScript.
 */
export function outputScriptHex(address: string, n: Network): string {
  const net = bitcoinNetwork(n);
  if (address.slice(0, net.bech32.length + 1).toLowerCase() === `${net.bech32}1`) {
    let d: { version: number; prefix: string; data: Uint8Array } | undefined;
    try {
      d = bitcoin.address.fromBech32(address);
    } catch {
      d = undefined; // toOutputScript below gives the reason
    }
    if (d && d.prefix === net.bech32 && d.version === 0 && (d.data.length === 20 || d.data.length === 32))
      return `00${d.data.length.toString(16)}${Buffer.from(d.data).toString('hex')}`;
  }
  return Buffer.from(bitcoin.address.toOutputScript(address, net)).toString('hex');
}
