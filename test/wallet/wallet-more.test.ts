// The wallet room's second part on a bcoin regtest node, against a real anyad with a software keystore: a hundred
// incoming payments (in a few transactions of many outputs) and a reorg that undoes some of them, balances exact
// after each step; wallet.bumpfee (BIP125) accepted by the node, from the change and with a wallet coin added;
// wallet.cpfp bringing a low-fee payment to a package rate; the refusals (a confirmed or non-RBF original, a fee
// rate not higher, a parent already paying, a locked keystore, a policy on group:wallet); and hsm.restorekeystore
// into a fresh datadir with wallet.rescan finding every coin with the same balance.
//
// bcoin 1.0.2 has no BIP125 replacement (its mempool refuses any double spend): a node that takes the replacement
// evicts the original; here the original leaves bcoin's mempool by a restart of the node (its mempool is not kept
// on disk), and the replacement is then accepted by the node while the wallet still holds the original as pending.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { join } from 'node:path';
import { readFile, rm, writeFile } from 'node:fs/promises';
import * as bitcoin from 'bitcoinjs-lib';
import { fund as fundExternal, newWallet, pay, startBcoin, type BcoinNode, type Wallet } from '../helpers/bcoin.js';
import { channelsWithEvents, eventsUntil, unixChannel, type Channel } from '../helpers/channel.js';
import { startDaemon, tempDir, type RunningDaemon } from '../helpers/daemon.js';
import { validateMnemonic } from '@scure/bip39';
import { wordlist } from '@scure/bip39/wordlists/english.js';
import { keystorePartyArgs } from '../helpers/keystore-party.js';
import { until } from '../helpers/until.js';

const NET = bitcoin.networks.regtest;
const PASSPHRASE = 'wallet test passphrase';

interface Balance {
  confirmed_sat: number;
  unconfirmed_sat: number;
  immature_sat: number;
  reserved_sat: number;
  total_sat: number;
}
interface TxItem {
  txid: string;
  status: string;
  replaced_by: string | null;
  fee_sat: number | null;
  amount_sat: number;
}

async function call<T>(ch: Channel, method: string, params?: unknown): Promise<T> {
  const r = await ch.call(method, params, undefined, 120_000);
  if (r.error) throw Object.assign(new Error(`${method}: ${r.error.code} ${r.error.message}`), { code: r.error.code, data: r.error.data });
  return r.result as T;
}

async function refused(ch: Channel, method: string, params: unknown, code: number, message: RegExp): Promise<{ message: string; data?: unknown }> {
  const r = await ch.call(method, params, undefined, 120_000);
  assert.ok(r.error, `${method} should be refused`);
  assert.equal(r.error.code, code, r.error.message);
  assert.match(r.error.message, message);
  return r.error;
}

/** One signed transaction from an external key: `utxo` to many outputs, the rest back to `from` less the fee. */
function payMany(from: Wallet, utxo: { txid: string; vout: number; value: bigint }, outs: Array<{ address: string; value: number }>, fee = 20_000n) {
  const psbt = new bitcoin.Psbt({ network: NET });
  psbt.addInput({ hash: utxo.txid, index: utxo.vout, witnessUtxo: { script: from.script, value: utxo.value } });
  for (const o of outs) psbt.addOutput({ address: o.address, value: BigInt(o.value) });
  const rest = utxo.value - BigInt(outs.reduce((s, o) => s + o.value, 0)) - fee;
  psbt.addOutput({ script: from.script, value: rest });
  psbt.signInput(0, from.key);
  psbt.finalizeAllInputs();
  const tx = psbt.extractTransaction();
  return { hex: tx.toHex(), txid: tx.getId(), change: { txid: tx.getId(), vout: outs.length, value: rest } };
}

describe('wallet: many payments and a reorg, fee bumps (RBF, CPFP), refusals, restore and rescan', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let node: BcoinNode;
  let d: RunningDaemon;
  let ch: Channel;
  let restored: RunningDaemon | undefined;
  let rch: Channel | undefined;
  let nodeArgs: { port: number; apiKey: string; prefix: string };
  const balance = (c: Channel = ch): Promise<Balance> => call<Balance>(c, 'wallet.getbalance');
  const txs = async (c: Channel = ch): Promise<TxItem[]> => (await call<{ items: TxItem[] }>(c, 'wallet.listtransactions', { count: 10_000 })).items;
  const tipOf = async (): Promise<number> => (await node.rpc<{ blocks: number }>('getblockchaininfo')).blocks;
  const synced = async (c: Channel = ch): Promise<void> => {
    const height = await tipOf();
    await until('anyad follows the tip', async () =>
      (await call<{ processed_height: number | null }>(c, 'chain.getinfo')).processed_height === height ? true : undefined,
    );
  };
  const inPool = async (txid: string): Promise<boolean> => (await node.rpc<string[]>('getrawmempool')).includes(txid);

  before(async () => {
    dir = await tempDir('anya-wallet-more-');
    node = await startBcoin(dir.path, { prefix: join(dir.path, 'bcoin') });
    nodeArgs = { port: node.port, apiKey: node.apiKey, prefix: join(dir.path, 'bcoin') };
    const pf = join(dir.path, 'pass');
    await writeFile(pf, `${PASSPHRASE}\n`, { mode: 0o600 });
    d = await startDaemon(join(dir.path, 'a'), { args: keystorePartyArgs(node, pf, ['-wallet.fallbackfee=2']) });
    ch = await unixChannel(d.socket);
  });

  after(async () => {
    rch?.close();
    await restored?.kill();
    ch?.close();
    await d?.kill();
    await node?.stop();
    await dir?.remove();
  });

  it('a hundred payments in four transactions, then a reorg that undoes two of them: the balance exact at each step', async () => {
    const ext = newWallet();
    let coin = await fundExternal(node, ext);
    await synced();
    const addresses: string[] = [];
    for (let i = 0; i < 100; i++) addresses.push((await call<{ address: string }>(ch, 'wallet.getnewaddress')).address);
    const batches = [0, 1, 2, 3].map((b) => addresses.slice(b * 25, b * 25 + 25).map((address, i) => ({ address, value: 200_000 + (b * 25 + i) * 1000 })));
    const sums = batches.map((outs) => outs.reduce((s, o) => s + o.value, 0));
    const sent = [];
    for (const outs of batches) {
      const t = payMany(ext, coin, outs);
      sent.push(t);
      coin = t.change;
    }
    // Two in the mempool, then a block; two more, then another block.
    await node.send(sent[0]!.hex);
    await node.send(sent[1]!.hex);
    await until('the first fifty are seen unconfirmed', async () => ((await balance()).unconfirmed_sat === sums[0]! + sums[1]! ? true : undefined));
    assert.equal((await balance()).confirmed_sat, 0);
    await node.mine(1, ext.address);
    await synced();
    let b = await balance();
    assert.deepEqual([b.confirmed_sat, b.unconfirmed_sat], [sums[0]! + sums[1]!, 0]);
    await node.send(sent[2]!.hex);
    await node.send(sent[3]!.hex);
    await until('the next fifty are seen unconfirmed', async () => ((await balance()).unconfirmed_sat === sums[2]! + sums[3]! ? true : undefined));
    const [h] = await node.mine(1, ext.address);
    await synced();
    b = await balance();
    const all = sums.reduce((s, v) => s + v, 0);
    assert.deepEqual([b.confirmed_sat, b.unconfirmed_sat, b.total_sat], [all, 0, all]);
    assert.equal((await call<unknown[]>(ch, 'wallet.listunspent', { minconf: 1 })).length, 100);

    // The reorg: the block of the last two leaves the chain; their fifty payments go back to unconfirmed.
    await node.rpc('invalidateblock', h);
    await synced();
    await until('the reorg is undone in the wallet', async () => ((await balance()).confirmed_sat === sums[0]! + sums[1]! ? true : undefined));
    b = await balance();
    assert.equal(b.total_sat, all);
    assert.equal(b.unconfirmed_sat, sums[2]! + sums[3]!);
    const items = await txs();
    for (const t of sent.slice(2)) assert.equal(items.find((x) => x.txid === t.txid)!.status, 'pending');
    for (const t of sent.slice(0, 2)) assert.equal(items.find((x) => x.txid === t.txid)!.status, 'confirmed');

    // The new branch: whatever bcoin mined again is confirmed again, the rest stays unconfirmed; the total holds.
    await node.mine(1, ext.address);
    await synced();
    const mined = await Promise.all(
      sent.slice(2).map((t) =>
        node.rpc<{ confirmations?: number }>('getrawtransaction', t.txid, true).then(
          (x) => (x.confirmations ?? 0) > 0,
          () => false,
        ),
      ),
    );
    const again = sums.slice(2).reduce((s, v, i) => s + (mined[i] ? v : 0), 0);
    await until('the new branch is applied', async () => ((await balance()).confirmed_sat === sums[0]! + sums[1]! + again ? true : undefined));
    b = await balance();
    assert.equal(b.total_sat, all);
    assert.equal(b.unconfirmed_sat, all - sums[0]! - sums[1]! - again);
    if (again < sums[2]! + sums[3]!) {
      // Confirm what bcoin did not take again, so every later step starts from confirmed coins.
      for (const [i, t] of sent.slice(2).entries()) if (!mined[i] && !(await inPool(t.txid))) await node.send(t.hex);
      await node.mine(1, ext.address);
      await synced();
      await until('all confirmed', async () => ((await balance()).confirmed_sat === all ? true : undefined));
    }
  });

  it('wallet.bumpfee: refusals name the fees; the replacement is accepted by the node, from the change or with a wallet coin added', async () => {
    const to = newWallet().address;
    const b0 = await balance();
    const a = await call<{ txid: string; fee_sat: number; hex: string }>(ch, 'wallet.send', { outputs: [{ address: to, amount_sat: 50_000 }], fee_rate: 2 });
    const aVsize = bitcoin.Transaction.fromHex(a.hex).virtualSize();
    const low = await refused(ch, 'wallet.bumpfee', { txid: a.txid, fee_rate: 1 }, -32602, /1 sat\/vB is not higher than the original's [\d.]+ sat\/vB/);
    assert.match(low.message, new RegExp(`${a.fee_sat} sat over ${aVsize} vB`));
    // Not RBF: the original's inputs say nSequence 0xfffffffe.
    const final = await call<{ txid: string; fee_sat: number; hex: string }>(ch, 'wallet.send', {
      outputs: [{ address: to, amount_sat: 30_000 }],
      fee_rate: 2,
      replaceable: false,
    });
    await refused(ch, 'wallet.bumpfee', { txid: final.txid, fee_rate: 5 }, -32602, /does not signal BIP125 replaceability/);
    // A send whose change would be dust has none: its bump must add a wallet coin.
    const coins = await call<Array<{ txid: string; vout: number; amount_sat: number; spendable: boolean; confirmations: number }>>(ch, 'wallet.listunspent', {
      minconf: 1,
    });
    const c = coins.find((x) => x.spendable)!;
    const noChange = await call<{ txid: string; fee_sat: number; hex: string }>(ch, 'wallet.send', {
      outputs: [{ address: to, amount_sat: c.amount_sat - 400 }],
      fee_rate: 2,
      inputs: [{ txid: c.txid, vout: c.vout }],
    });
    assert.equal(bitcoin.Transaction.fromHex(noChange.hex).outs.length, 1);
    assert.equal(noChange.fee_sat, 400);
    const b1 = await balance();
    assert.equal(b1.total_sat, b0.total_sat - 50_000 - a.fee_sat - 30_000 - final.fee_sat - c.amount_sat);

    // The originals leave bcoin's mempool (see the top), as a node taking a replacement evicts them.
    await node.stop();
    node = await startBcoin(dir.path, nodeArgs);
    assert.equal(await inPool(a.txid), false);
    await until('anyad is connected again', async () => ((await call<{ state: string }>(ch, 'chain.getinfo')).state === 'connected' ? true : undefined));

    const events = await channelsWithEvents(d, ['wallet.tx']);
    const r = await call<{ txid: string; fee_sat: number; fee_rate: number; original_fee_sat: number; original_fee_rate: number }>(ch, 'wallet.bumpfee', {
      txid: a.txid,
      fee_rate: 6,
    });
    assert.equal(r.original_fee_sat, a.fee_sat);
    assert.ok(r.fee_rate >= 6 && r.fee_sat >= a.fee_sat + aVsize, `fee ${r.fee_sat} at ${r.fee_rate} sat/vB`);
    await until('the replacement is in the mempool', async () => ((await inPool(r.txid)) ? true : undefined));
    assert.equal(await inPool(a.txid), false);
    const rep = await node.rpc<{ vout: Array<{ value: number; scriptPubKey: { address?: string; addresses?: string[] } }> }>('getrawtransaction', r.txid, true);
    assert.ok(
      rep.vout.some((o) => Math.round(o.value * 1e8) === 50_000),
      'the recipient is paid the same amount',
    );
    const seen = await eventsUntil(events.ws, (e) => e.params.topic === 'wallet.tx' && e.params.data.txid === a.txid);
    assert.deepEqual([seen.at(-1)!.params.data.status, seen.at(-1)!.params.data.replaced_by], ['replaced', r.txid]);
    events.ch.close();
    events.ws.close();
    let items = await txs();
    assert.equal(items.find((x) => x.txid === a.txid)!.status, 'replaced');
    assert.equal(items.find((x) => x.txid === a.txid)!.replaced_by, r.txid);
    const b2 = await balance();
    assert.equal(b2.total_sat, b1.total_sat - (r.fee_sat - a.fee_sat));
    await refused(ch, 'wallet.bumpfee', { txid: a.txid, fee_rate: 9 }, -32014, /was replaced already/);

    const n = await call<{ txid: string; fee_sat: number }>(ch, 'wallet.bumpfee', { txid: noChange.txid, fee_rate: 8 });
    await until('the second replacement is in the mempool', async () => ((await inPool(n.txid)) ? true : undefined));
    const nTx = await node.rpc<{ vin: unknown[] }>('getrawtransaction', n.txid, true);
    assert.ok(nTx.vin.length >= 2, 'a wallet coin was added');
    assert.ok(n.fee_sat >= noChange.fee_sat);
    const b3 = await balance();
    assert.equal(b3.total_sat, b2.total_sat - (n.fee_sat - noChange.fee_sat));

    // The non-RBF send left bcoin's mempool with the restart too: broadcast again by hand, then everything confirms.
    await node.send(final.hex);
    await node.mine(1, newWallet().address);
    await synced();
    items = await txs();
    assert.equal(items.find((x) => x.txid === r.txid)!.status, 'confirmed');
    assert.equal((await balance()).total_sat, b3.total_sat);
    assert.equal((await balance()).unconfirmed_sat, 0);
    await refused(ch, 'wallet.bumpfee', { txid: r.txid, fee_rate: 20 }, -32014, /is confirmed \(height \d+\)/);
  });

  it('wallet.cpfp: a child of a low-fee payment brings the package to the rate asked; refused when the parent already pays it', async () => {
    const ext = newWallet();
    const coin = await fundExternal(node, ext);
    await synced();
    const to = (await call<{ address: string }>(ch, 'wallet.getnewaddress')).address;
    const p = pay(ext, coin, to, 150n); // about 1.4 sat/vB
    await node.send(p.hex);
    await until('the payment is seen', async () => ((await txs()).some((x) => x.txid === p.txid) ? true : undefined));
    const b0 = await balance();
    await refused(
      ch,
      'wallet.cpfp',
      { txid: p.txid, fee_rate: 1 },
      -32602,
      /pays [\d.]+ sat\/vB already \(150 sat over \d+ vB\), not below the 1 sat\/vB asked/,
    );
    const r = await call<{ txid: string; fee_sat: number; package_fee_rate: number; parent_fee_sat: number; parent_vsize: number }>(ch, 'wallet.cpfp', {
      txid: p.txid,
      fee_rate: 20,
    });
    assert.equal(r.parent_fee_sat, 150);
    await until('the child is in the mempool', async () => ((await inPool(r.txid)) ? true : undefined));
    const parent = await node.rpc<{ size: number; fee: number }>('getmempoolentry', p.txid);
    const child = await node.rpc<{ size: number; fee: number }>('getmempoolentry', r.txid);
    const pkg = (Math.round(parent.fee * 1e8) + Math.round(child.fee * 1e8)) / (parent.size + child.size);
    assert.ok(pkg >= 20, `the package pays ${pkg} sat/vB`);
    assert.ok(r.package_fee_rate >= 20);
    await refused(ch, 'wallet.bumpfee', { txid: p.txid, fee_rate: 30 }, -32602, /not this wallet's: raise the fee of a payment to us with wallet\.cpfp/);
    const b1 = await balance();
    assert.equal(b1.total_sat, b0.total_sat - r.fee_sat);
    // A send of ours with a child paying for it: bumping the parent would orphan the child, so it is refused.
    const own = await call<{ txid: string; fee_sat: number }>(ch, 'wallet.send', {
      outputs: [{ address: newWallet().address, amount_sat: 40_000 }],
      fee_rate: 1,
    });
    await until('our send is in the mempool', async () => ((await inPool(own.txid)) ? true : undefined));
    const kid = await call<{ txid: string; fee_sat: number }>(ch, 'wallet.cpfp', { txid: own.txid, fee_rate: 10 });
    await until('the child of our send is in the mempool', async () => ((await inPool(kid.txid)) ? true : undefined));
    await refused(ch, 'wallet.bumpfee', { txid: own.txid, fee_rate: 20 }, -32014, new RegExp(`unconfirmed child in the wallet \\(${kid.txid}\\)`));
    assert.equal((await balance()).total_sat, b1.total_sat - 40_000 - own.fee_sat - kid.fee_sat);
    await node.mine(1, newWallet().address);
    await synced();
    const b2 = await balance();
    assert.equal(b2.total_sat, b1.total_sat - 40_000 - own.fee_sat - kid.fee_sat);
    assert.equal(b2.unconfirmed_sat, 0);
    await refused(ch, 'wallet.cpfp', { txid: p.txid, fee_rate: 30 }, -32014, /is confirmed/);
  });

  it('refuses a send while the keystore is locked, and one over a policy on group:wallet', async () => {
    const to = newWallet().address;
    const b0 = await balance();
    await call(ch, 'hsm.lock');
    await refused(ch, 'wallet.send', { outputs: [{ address: to, amount_sat: 20_000 }], fee_rate: 2 }, -32012, /locked/i);
    assert.equal((await balance()).reserved_sat, b0.reserved_sat, 'the coins are given back');
    await call(ch, 'hsm.unlock', { passphrase: PASSPHRASE, timeout: 0 });
    await call(ch, 'hsm.setpolicy', { subject: 'group:wallet', policy: { max_amount_sat: 10_000 } });
    const denied = await refused(
      ch,
      'wallet.send',
      { outputs: [{ address: to, amount_sat: 20_000 }], fee_rate: 2 },
      -32013,
      /sends 20000 sat, more than max_amount_sat 10000/,
    );
    assert.equal((denied.data as { rule?: string } | undefined)?.rule, 'max_amount_sat');
    assert.equal((await balance()).reserved_sat, b0.reserved_sat);
    assert.equal((await balance()).total_sat, b0.total_sat);
    const ok = await call<{ txid: string; hex: string }>(ch, 'wallet.send', { outputs: [{ address: to, amount_sat: 9_000 }], fee_rate: 2 });
    // bcoin answers sendrawtransaction before it validates: wait for the mempool.
    await until('the send is in the mempool', async () => ((await inPool(ok.txid)) ? true : undefined));
    await call(ch, 'hsm.setpolicy', { subject: 'group:wallet', policy: {} });
    await node.mine(1, newWallet().address);
    await synced();
  });

  it('restores the keystore from its words into a fresh datadir; wallet.rescan finds every coin, the balance the same', async () => {
    const mnemonic = (await readFile(join(d.netdir, 'keystore-mnemonic.txt'), 'utf8')).trim();
    const words = mnemonic.split(' ');
    const want = await balance();
    const coins = (await call<Array<{ txid: string; vout: number; amount_sat: number }>>(ch, 'wallet.listunspent'))
      .map((c) => `${c.txid}:${c.vout}:${c.amount_sat}`)
      .sort();
    const args = keystorePartyArgs(node, '/nonexistent', []).filter((a) => !a.startsWith('-hsm.passphrasefile'));
    restored = await startDaemon(join(dir.path, 'b'), { args });
    rch = await unixChannel(restored.socket);
    assert.equal((await balance(rch)).total_sat, 0);
    await refused(rch, 'wallet.getnewaddress', {}, -32012, /unlock the keystore|locked/i);

    // Wrong words are refused by position, never echoed. Two words swapped keep the BIP39 checksum once in 256: the
    // first swap of neighbours that breaks it is the one typed (CI once drew a swap that kept it).
    const swapAt = words.findIndex((_, i) => {
      if (i + 1 >= words.length || words[i] === words[i + 1]) return false;
      const w = [...words];
      [w[i], w[i + 1]] = [w[i + 1]!, w[i]!];
      return !validateMnemonic(w.join(' '), wordlist);
    });
    assert.ok(swapAt >= 0, 'a swap of two neighbouring words that breaks the checksum');
    const swapped = [...words];
    [swapped[swapAt], swapped[swapAt + 1]] = [swapped[swapAt + 1]!, swapped[swapAt]!];
    {
      const e = await refused(rch, 'hsm.restorekeystore', { mnemonic: swapped.join(' '), passphrase: PASSPHRASE }, -32602, /checksum/);
      // (Single words may be plain English, "wrong" or "order" among them: no two of the words in a row.)
      for (let i = 1; i < words.length; i++) assert.ok(!e.message.includes(`${words[i - 1]} ${words[i]}`), 'no words in the error');
    }
    const unknown = [...words];
    unknown[2] = 'notaword';
    await refused(
      rch,
      'hsm.restorekeystore',
      { mnemonic: unknown.join(' '), passphrase: PASSPHRASE },
      -32602,
      /word 3 of 24 not in the BIP39 English word list/,
    );
    await refused(rch, 'hsm.restorekeystore', { mnemonic: words.slice(0, 5).join(' '), passphrase: PASSPHRASE }, -32602, /5 words/);
    // Typed in capitals with extra spaces, as NFKD and BIP39 allow.
    await call(rch, 'hsm.restorekeystore', { mnemonic: `  ${words.map((w) => w.toUpperCase()).join('   ')} `, passphrase: PASSPHRASE });
    await refused(rch, 'hsm.restorekeystore', { mnemonic, passphrase: PASSPHRASE }, -32014, /never overwrites/);
    const descA = await call<Array<{ desc: string }>>(ch, 'wallet.listdescriptors');
    await synced(rch);
    const events = await channelsWithEvents(restored, ['wallet.rescan']);
    const r = await call<{ from_height: number; to_height: number; transactions_found: number }>(rch, 'wallet.rescan', { from_height: 0 });
    const progress = await eventsUntil(events.ws, (e) => e.params.topic === 'wallet.rescan' && e.params.data.done === true);
    assert.equal(progress.at(-1)!.params.data.transactions_found, r.transactions_found);
    assert.ok(progress.filter((e) => e.params.topic === 'wallet.rescan').length >= Math.floor(r.to_height / 100), 'progress every 100 blocks');
    events.ch.close();
    events.ws.close();
    assert.equal(r.to_height, await tipOf());
    assert.ok(r.transactions_found > 4);
    const got = await balance(rch);
    assert.equal(got.total_sat, want.total_sat);
    assert.equal(got.confirmed_sat, want.confirmed_sat);
    const rcoins = (await call<Array<{ txid: string; vout: number; amount_sat: number }>>(rch, 'wallet.listunspent'))
      .map((c) => `${c.txid}:${c.vout}:${c.amount_sat}`)
      .sort();
    assert.deepEqual(rcoins, coins);
    assert.deepEqual(
      (await call<Array<{ desc: string }>>(rch, 'wallet.listdescriptors')).map((x) => x.desc),
      descA.map((x) => x.desc),
    );
    // A new address of the restored wallet is past every one the chain shows used.
    const used = new Set((await call<Array<{ address: string }>>(rch, 'wallet.listunspent')).map((c) => c.address));
    const fresh = await call<{ address: string; index: number }>(rch, 'wallet.getnewaddress');
    assert.ok(!used.has(fresh.address) && fresh.index >= 100, `index ${fresh.index}`);
    // A second rescan changes nothing; one from a birthday starts past the genesis block (regtest's is of 2011).
    const again = await call<{ transactions_found: number }>(rch, 'wallet.rescan', { from_height: 0 });
    assert.equal(again.transactions_found, 0);
    const byBirthday = await call<{ from_height: number; transactions_found: number }>(rch, 'wallet.rescan', {
      birthday: Math.floor(Date.now() / 1000) - 86_400,
    });
    assert.ok(byBirthday.from_height >= 1, `from ${byBirthday.from_height}`);
    assert.equal(byBirthday.transactions_found, 0);
    await refused(rch, 'wallet.rescan', { birthday: Math.floor(Date.now() / 1000) + 86_400 }, -32602, /above the tip/);
    assert.deepEqual(await balance(rch), got);
    // Audited, without the words; and no word in the daemon's log.
    const audit = await call<Array<{ event: string; detail: Record<string, unknown> }>>(rch, 'hsm.audit', {});
    assert.ok(audit.some((e) => e.event === 'restore'));
    const text = JSON.stringify(audit) + JSON.stringify(restored.logs) + restored.stderr();
    assert.ok(!text.includes(words.slice(0, 3).join(' ')) && !text.toLowerCase().includes(words.slice(0, 3).join(' ')), 'the words are nowhere');
  });

  it('a wallet whose datadir gets another keystore (another seed) refuses to hand out addresses or spend', async () => {
    rch!.close();
    await restored!.kill();
    await rm(join(restored!.netdir, 'keystore.json'));
    const pf = join(dir.path, 'pass-b');
    await writeFile(pf, 'another passphrase\n', { mode: 0o600 });
    restored = await startDaemon(join(dir.path, 'b'), { args: keystorePartyArgs(node, pf, []) });
    rch = await unixChannel(restored.socket);
    const h = await call<{ services: Record<string, { state: string; detail: string }> }>(rch, 'health');
    assert.equal(h.services.wallet!.state, 'failed');
    assert.match(h.services.wallet!.detail, /is not the one this wallet follows/);
    await refused(rch, 'wallet.getnewaddress', {}, -32014, /is not the one this wallet follows/);
    await refused(
      rch,
      'wallet.send',
      { outputs: [{ address: newWallet().address, amount_sat: 10_000 }], fee_rate: 2 },
      -32014,
      /is not the one this wallet follows/,
    );
  });
});
