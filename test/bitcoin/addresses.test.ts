// outputScriptHex, the fast address decoder the watch list uses: the same script as bitcoinjs-lib's toOutputScript
// for every kind of address, and the same refusals (wrong network, bad checksum, mixed case, too short).

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import * as bitcoin from 'bitcoinjs-lib';
import { bitcoinNetwork, outputScriptHex } from '../../src/core/bitcoin-network.js';
import type { Network } from '../../src/core/options.js';

const slow = (a: string, n: Network): string => Buffer.from(bitcoin.address.toOutputScript(a, bitcoinNetwork(n))).toString('hex');

describe('outputScriptHex', () => {
  it('gives the same script as toOutputScript for P2WPKH, P2WSH, P2TR, P2PKH and P2SH on every network', () => {
    for (const n of ['main', 'test', 'regtest'] as const) {
      const net = bitcoinNetwork(n);
      for (let i = 0; i < 20; i++) {
        const addrs = [
          bitcoin.address.fromOutputScript(Buffer.concat([Buffer.from('0014', 'hex'), randomBytes(20)]), net),
          bitcoin.address.fromOutputScript(Buffer.concat([Buffer.from('0020', 'hex'), randomBytes(32)]), net),
          bitcoin.address.toBech32(randomBytes(32), 1, net.bech32),
          bitcoin.address.toBase58Check(randomBytes(20), net.pubKeyHash),
          bitcoin.address.toBase58Check(randomBytes(20), net.scriptHash),
        ];
        for (const a of addrs) {
          let want: string | Error;
          try {
            want = slow(a, n);
          } catch (err) {
            want = err as Error;
          }
          if (want instanceof Error) assert.throws(() => outputScriptHex(a, n), a);
          else assert.equal(outputScriptHex(a, n), want, a);
        }
        // Upper case is a valid bech32 spelling.
        assert.equal(outputScriptHex(addrs[0]!.toUpperCase(), n), slow(addrs[0]!, n));
      }
    }
  });

  it('refuses what toOutputScript refuses', () => {
    const regtest = bitcoin.address.fromOutputScript(Buffer.concat([Buffer.from('0014', 'hex'), randomBytes(20)]), bitcoinNetwork('regtest'));
    const broken = `${regtest.slice(0, -1)}${regtest.endsWith('q') ? 'p' : 'q'}`;
    const mixed = `${regtest.slice(0, 6)}${regtest.slice(6).toUpperCase()}`;
    for (const [a, n] of [
      [regtest, 'main'],
      [broken, 'regtest'],
      [mixed, 'regtest'],
      ['bcrt1qqqqqqqqq', 'regtest'],
      ['', 'regtest'],
    ] as Array<[string, Network]>) {
      assert.throws(() => outputScriptHex(a, n), `${a} on ${n}`);
      assert.throws(() => slow(a, n), `toOutputScript also refuses ${a} on ${n}`);
    }
  });
});
