// chain.createpsbt and chain.finalizepsbt against the regtest node (bcoin): a PSBT filled from the node (previous
// transaction and witness_utxo), signed outside anyad, finalized by anyad and accepted by the node; and every refusal
// naming what is wrong: a spent or unknown input, an immature coinbase, an input twice, outputs above the inputs, an
// address of another network, a PSBT that is not one; an unsigned input leaves the PSBT incomplete.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as bitcoin from 'bitcoinjs-lib';
import { fund, newWallet, startBcoin, type BcoinNode } from '../helpers/bcoin.js';
import { unixChannel, type Channel } from '../helpers/channel.js';
import { startDaemon, tempDir, type RunningDaemon } from '../helpers/daemon.js';
import { until } from '../helpers/until.js';

const NET = bitcoin.networks.regtest;

describe('chain.createpsbt and chain.finalizepsbt', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let node: BcoinNode;
  let d: RunningDaemon;
  let ch: Channel;
  before(async () => {
    dir = await tempDir();
    node = await startBcoin(dir.path);
    d = await startDaemon(join(dir.path, 'anya'), { args: [`-bitcoind.rpcport=${node.port}`, `-bitcoind.rpccookiefile=${node.cookieFile}`, '-noml.enable'] });
    ch = await unixChannel(d.socket);
  });
  after(async () => {
    ch?.close();
    await d?.kill();
    await node?.stop().catch(() => undefined);
    await dir?.remove();
  });

  it('fills a PSBT from the node, finalizes it once signed, and the node takes the transaction', async () => {
    const from = newWallet();
    const to = newWallet();
    const coin = await fund(node, from);
    const made = await ch.call('chain.createpsbt', {
      inputs: [{ txid: coin.txid, vout: coin.vout }],
      outputs: [{ address: to.address, amount_sat: 4_999_000_000 }],
    });
    assert.equal(made.error, undefined, JSON.stringify(made.error));
    const r = made.result as { psbt: string; inputs_sat: number; outputs_sat: number; fee_sat: number };
    assert.deepEqual({ ...r, psbt: undefined }, { psbt: undefined, inputs_sat: 5_000_000_000, outputs_sat: 4_999_000_000, fee_sat: 1_000_000 });
    const psbt = bitcoin.Psbt.fromBase64(r.psbt, { network: NET });
    const input = psbt.data.inputs[0]!;
    assert.equal(bitcoin.Transaction.fromBuffer(Buffer.from(input.nonWitnessUtxo!)).getId(), coin.txid, 'the previous transaction is in the PSBT');
    assert.equal(input.witnessUtxo!.value, coin.value);
    assert.equal(psbt.txInputs[0]!.sequence, 0xfffffffd, 'replaceable by default');

    const unsigned = (await ch.call('chain.finalizepsbt', { psbt: r.psbt })).result as { complete: boolean; incomplete_inputs: number[]; hex?: string };
    assert.deepEqual(
      { complete: unsigned.complete, incomplete: unsigned.incomplete_inputs, hex: unsigned.hex },
      { complete: false, incomplete: [0], hex: undefined },
    );

    psbt.signInput(0, from.key);
    const fin = (await ch.call('chain.finalizepsbt', { psbt: psbt.toBase64() })).result as { complete: boolean; hex: string; txid: string };
    assert.equal(fin.complete, true);
    assert.equal(bitcoin.Transaction.fromHex(fin.hex).getId(), fin.txid);
    const sent = (await ch.call('chain.broadcast', { hex: fin.hex })).result as { txid: string };
    assert.equal(sent.txid, fin.txid);

    // Now spent (in the mempool; bcoin answers sendrawtransaction before its mempool has the transaction): refused,
    // naming the input.
    await until('the payment in the node mempool', async () => ((await node.rpc<string[]>('getrawmempool')).includes(fin.txid) ? true : undefined));
    const again = await ch.call('chain.createpsbt', { inputs: [{ txid: coin.txid, vout: coin.vout }], outputs: [{ address: to.address, amount_sat: 1000 }] });
    assert.equal(again.error?.code, -32011, JSON.stringify(again.error));
    assert.match(again.error!.message, new RegExp(`inputs\\[0\\] ${coin.txid}:${coin.vout} is spent or does not exist`));
  });

  it('refuses an immature coinbase, an input twice, outputs above the inputs, another network, an unknown input, a non-PSBT', async () => {
    const w = newWallet();
    const to = newWallet();
    const [h] = await node.mine(1, w.address);
    const block = await node.rpc<{ tx: string[] }>('getblock', h, true, false);
    const young = block.tx[0]!;
    const refuse = async (params: unknown, code: number, re: RegExp): Promise<void> => {
      const r = await ch.call('chain.createpsbt', params);
      assert.equal(r.error?.code, code, `${JSON.stringify(params)} → ${JSON.stringify(r.error ?? r.result)}`);
      assert.match(r.error!.message, re);
    };
    const out = [{ address: to.address, amount_sat: 1000 }];
    await refuse(
      { inputs: [{ txid: young, vout: 0 }], outputs: out },
      -32602,
      /inputs\[0\] .* is a coinbase output with 1 confirmation\(s\); it can be spent from 100/,
    );

    const coin = await fund(node, w);
    await refuse({ inputs: [coin, coin].map((c) => ({ txid: c.txid, vout: c.vout })), outputs: out }, -32602, /inputs\[1\] spends .* again/);
    await refuse(
      { inputs: [{ txid: coin.txid, vout: coin.vout }], outputs: [{ address: to.address, amount_sat: 5_000_000_001 }] },
      -32602,
      /the outputs add up to 5000000001 sat, more than the inputs' 5000000000 sat/,
    );
    const mainnet = bitcoin.payments.p2wpkh({ pubkey: to.key.publicKey, network: bitcoin.networks.bitcoin }).address!;
    await refuse(
      { inputs: [{ txid: coin.txid, vout: coin.vout }], outputs: [{ address: mainnet, amount_sat: 1000 }] },
      -32602,
      /outputs\[0\]\.address bc1.* is not an address of this network \(bcrt\)/,
    );
    await refuse({ inputs: [{ txid: '11'.repeat(32), vout: 0 }], outputs: out }, -32011, /inputs\[0\] 1{64}:0 is spent or does not exist/);

    const bad = await ch.call('chain.finalizepsbt', { psbt: 'bm90IGEgcHNidA==' });
    assert.equal(bad.error?.code, -32602);
    assert.match(bad.error!.message, /psbt is not a valid PSBT/);
  });
});
