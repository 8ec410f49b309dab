// anya-cli's wallet commands against a real anyad with a software keystore on a bcoin regtest node: -getbalance for
// people, `send <address> <amount> [feerate]` with the amount in BTC turned into satoshis exactly (0.29 BTC is
// 29,000,000 sat, not the 28,999,999 a float gives), the fee rate as a third argument or -feerate=, and the refusals:
// usage errors (exit 2) for a bad amount or fee rate, the daemon's errors (exit 1) for a foreign address or too
// little money, and a clear message from an anyad without a wallet.

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as bitcoin from 'bitcoinjs-lib';
import { newWallet, startBcoin, type BcoinNode } from '../helpers/bcoin.js';
import { runCli, startDaemon, tempDir, type RunningDaemon } from '../helpers/daemon.js';
import { keystorePartyArgs } from '../helpers/keystore-party.js';
import { until } from '../helpers/until.js';

interface NodeTx {
  vin: Array<{ txid: string; vout: number }>;
  vout: Array<{ value: number; n: number; scriptPubKey: { hex: string } }>;
}

describe('anya-cli wallet commands: -getbalance and send', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let node: BcoinNode;
  let d: RunningDaemon;
  let base: string[];
  const cli = (...args: string[]): ReturnType<typeof runCli> => runCli([...base, ...args], { timeoutMs: 60_000 });
  /** The satoshis a transaction in the node's mempool pays to a script (the node's own decoding, in BTC, made exact). */
  const paidTo = async (txid: string, address: string): Promise<number> => {
    const script = Buffer.from(bitcoin.address.toOutputScript(address, bitcoin.networks.regtest)).toString('hex');
    const tx = await node.rpc<NodeTx>('getrawtransaction', txid, true);
    const outs = tx.vout.filter((o) => o.scriptPubKey.hex === script);
    assert.equal(outs.length, 1, `one output pays ${address}`);
    return Math.round(outs[0]!.value * 1e8);
  };
  const synced = async (): Promise<void> => {
    const height = await node.rpc<number>('getblockcount');
    await until('anyad follows the tip', async () => {
      const r = await cli('chain.getinfo');
      return (JSON.parse(r.stdout) as { processed_height: number | null }).processed_height === height ? true : undefined;
    });
  };

  before(async () => {
    dir = await tempDir('anya-cli-wallet-');
    node = await startBcoin(dir.path);
    const pf = join(dir.path, 'pass');
    await writeFile(pf, 'cli wallet test passphrase\n', { mode: 0o600 });
    d = await startDaemon(join(dir.path, 'a'), { args: keystorePartyArgs(node, pf) });
    base = ['-regtest', `-datadir=${d.datadir}`];
  });
  after(async () => {
    await d?.kill();
    await node?.stop();
    await dir?.remove();
  });

  it('-getbalance prints the balance for people: immature coinbase, then confirmed once 100 blocks deep', async () => {
    const empty = await cli('-getbalance');
    assert.equal(empty.code, 0, empty.stderr);
    assert.match(empty.stdout, /^Confirmed: +0\.00000000 BTC\n/);
    assert.match(empty.stdout, /\nTotal: +0\.00000000 BTC\n$/);
    const addr = (JSON.parse((await cli('wallet.getnewaddress')).stdout) as { address: string }).address;
    await node.mine(1, addr);
    await synced();
    const young = await cli('-getbalance');
    assert.match(young.stdout, /^Confirmed: +0\.00000000 BTC\n/);
    assert.match(young.stdout, /\nImmature: +50\.00000000 BTC {2}\(coinbase/);
    await node.mine(100, newWallet().address);
    await synced();
    const r = await cli('-getbalance');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      [
        'Confirmed:   50.00000000 BTC',
        'Unconfirmed:  0.00000000 BTC  (in the mempool)',
        'Immature:     0.00000000 BTC  (coinbase: spendable once 100 blocks deep)',
        'Reserved:     0.00000000 BTC  (of the above: promised to a funded PSBT, a send or another room)',
        'Total:       50.00000000 BTC',
        '',
      ].join('\n'),
    );
    const bad = await cli('-getbalance', 'extra');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^error: -getbalance takes no method or arguments/);
  });

  it('send pays the amount in BTC exactly, prints the txid, and takes the fee rate as third argument or -feerate=', async () => {
    const to = newWallet().address;
    // 0.29 * 1e8 is 28999999.999999996 in floating point: the CLI must send 29,000,000 sat.
    const r = await cli('send', to, '0.29', '2');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^[0-9a-f]{64}\n$/);
    const txid = r.stdout.trim();
    assert.equal(await paidTo(txid, to), 29_000_000);
    const to2 = newWallet().address;
    const r2 = await cli('-feerate=3', 'send', to2, '1.15');
    assert.equal(r2.code, 0, r2.stderr);
    const txid2 = r2.stdout.trim();
    assert.equal(await paidTo(txid2, to2), 115_000_000);
    // The fee rate reached the wallet: 3 sat/vB of the transaction's size, against 2 for the first.
    const txs = JSON.parse((await cli('wallet.listtransactions')).stdout) as { items: Array<{ txid: string; fee_sat: number }> };
    const fee = (id: string): number => txs.items.find((t) => t.txid === id)!.fee_sat;
    assert.ok(fee(txid2) > fee(txid) && fee(txid2) >= 3 * 110 && fee(txid) < 3 * 110, `fees ${fee(txid)} at 2 and ${fee(txid2)} at 3 sat/vB`);
    const pool = await node.rpc<string[]>('getrawmempool');
    assert.ok(pool.includes(txid) && pool.includes(txid2), 'both in the node mempool');
    const b = await cli('-getbalance');
    assert.match(b.stdout, /\nUnconfirmed: +48\.5\d{7} BTC/, 'the change comes back unconfirmed');
  });

  it('refuses bad usage with exit 2 and what the daemon refuses with exit 1, each naming what is wrong', async () => {
    const to = newWallet().address;
    const usage: Array<[string[], RegExp]> = [
      [['send', to, '0.000000001', '2'], /finer than a satoshi/],
      [['send', to, '0', '2'], /amount '0' is zero/],
      [['send', to, '1,5', '2'], /amount '1,5' is not a number of BTC/],
      [['send', to, '21000001', '2'], /more than the 21,000,000 BTC/],
      [['send', to], /send takes <address> <amount in BTC>/],
      [['send', to, '1', 'fast'], /fee rate 'fast' is not a number of sat\/vB/],
      [['-feerate=2', 'send', to, '1', '2'], /the fee rate is given twice/],
      [['-feerate=2', 'uptime'], /-feerate goes with send/],
      [['-named', 'send', `address=${to}`], /send takes positional arguments/],
    ];
    for (const [args, re] of usage) {
      const r = await cli(...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re, args.join(' '));
    }
    const foreign = await cli('send', 'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq', '1', '2');
    assert.equal(foreign.code, 1);
    assert.match(foreign.stderr, /^error code: -32602\nerror message:\n.*not a valid address of this network/);
    const poor = await cli('send', to, '1000', '2');
    assert.equal(poor.code, 1);
    assert.match(poor.stderr, /insufficient funds: 100000000000 sat to send at 2 sat\/vB, \d+ sat available/);
    const dust = await cli('send', to, '0.00000100', '2');
    assert.equal(dust.code, 1);
    assert.match(dust.stderr, /100 sat is dust/);
  });

  it('an anyad without a wallet says why, not only "method not found"', async () => {
    const bare = await startDaemon(join(dir.path, 'bare'));
    try {
      const r = await runCli(['-regtest', `-datadir=${bare.datadir}`, '-getbalance']);
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /^error code: -32601\nerror message:\nanyad has no wallet: the wallet room is on only with the bitcoin room and a software keystore/,
      );
    } finally {
      await bare.kill();
    }
  });
});
