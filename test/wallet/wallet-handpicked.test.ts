// One coin service for every room, hand-picked coins included (issue 27 item 4): an anyad on a bcoin regtest node
// with three mined coins in its wallet and one foreign coin (a keystore key's, not the wallet's). A wallet coin
// hand-picked for a DLC offer is promised to 'dlc:<id>': wallet.fundpsbt and wallet.send never choose it (they run
// out of funds first), listunspent says who holds it, a channel hand-picking it is refused naming that holder. The
// foreign coin hand-picked for a channel is promised to 'sc:<id>' and refused to a DLC offer, whose contract is not
// saved. An offer refused after the wallet promised its coin leaves no promise. The promises outlive a kill -9;
// dlc.cancel and sc.cancel give the coins back, and wallet.fundpsbt spends the DLC's coin again.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as bitcoin from 'bitcoinjs-lib';
import { startBcoin, newWallet, type BcoinNode } from '../helpers/bcoin.js';
import { call, startParty, type Party } from '../helpers/contract-party.js';
import { join } from 'node:path';
import { Store } from '../../src/store/store.js';
import { tempDir } from '../helpers/daemon.js';
import { until } from '../helpers/until.js';
import { enumDescriptor, makeOracle } from '../peers/dlc-oracle.js';
import { winLoseOffer } from '../helpers/dlc-offers.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const CONFLICT = -32014;
const INVALID_PARAMS = -32602;
const EXTRA = ['-dlc.minrefunddelay=600', '-dlc.maxrefunddelay=0', '-sc.mintoselfdelay=6'];

interface Reservation {
  outpoint: string;
  holder: string;
}
interface Unspent {
  txid: string;
  vout: number;
  amount_sat: number;
  spendable: boolean;
  reserved_by: string | null;
}
type Outpoint = { txid: string; vout: number };
const op = (u: Outpoint): string => `${u.txid}:${u.vout}`;
const outpoint = (u: Outpoint): Outpoint => ({ txid: u.txid, vout: u.vout });

describe('wallet: hand-picked coins are promised by the one coin service', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let node: BcoinNode;
  let alice: Party;
  const oracle = makeOracle(enumDescriptor(['win', 'lose']), 1, 'hand-picked-coins', 'tagged', 1_600_000_000);
  /** The wallet's three coins: X goes to a DLC, Y is refused an offer over dlc.maxfeerate. */
  let coinX: Unspent;
  let coinY: Unspent;
  /** A coinbase to a keystore key: a coin the wallet does not follow. */
  let foreign: Outpoint;
  let dlcId: string;
  let scId: string;

  const reservations = async (): Promise<Reservation[]> => call<Reservation[]>(alice.ch, 'wallet.listreservations');
  const unspentOf = async (u: Outpoint): Promise<Unspent | undefined> => (await call<Unspent[]>(alice.ch, 'wallet.listunspent')).find((c) => op(c) === op(u));
  const offerParams = (utxos: Outpoint[], feeRate = 2): Record<string, unknown> =>
    winLoseOffer(hex(oracle.ann), 100_000_000, feeRate, { utxos: utxos.map(outpoint) });
  const openParams = (utxos: Outpoint[]): Record<string, unknown> => ({
    capacity_sat: 50_000_000,
    push_sat: 0,
    to_self_delay: 6,
    fee_rate_sat_vb: 2,
    utxos: utxos.map(outpoint),
  });
  const pay = (amount_sat: number): Record<string, unknown> => ({ outputs: [{ address: newWallet().address, amount_sat }], fee_rate: 2 });
  /** The outpoints a funded PSBT spends. */
  const inputsOf = (psbt: string): string[] =>
    bitcoin.Psbt.fromBase64(psbt, { network: bitcoin.networks.regtest }).txInputs.map((i) => `${hex(Buffer.from(i.hash).reverse())}:${i.index}`);

  before(async () => {
    dir = await tempDir();
    node = await startBcoin(dir.path);
    alice = await startParty(dir.path, node, 'alice', { extra: EXTRA });
    // Three 50 BTC coinbases to the wallet, one to a keystore key (foreign to the wallet), matured by 100 blocks.
    for (let i = 0; i < 3; i++) await node.mine(1, (await call<{ address: string }>(alice.ch, 'wallet.getnewaddress')).address);
    const [block] = await node.mine(1, alice.address);
    await node.mine(100, newWallet().address);
    const cb = await node.rpc<{ tx: string[] }>('getblock', block, 1);
    foreign = { txid: cb.tx[0]!, vout: 0 };
    const coins = await until('the wallet sees its three mature coins', async () => {
      const all = await call<Unspent[]>(alice.ch, 'wallet.listunspent');
      return all.filter((c) => c.spendable).length === 3 ? all : undefined;
    });
    [coinX, coinY] = coins;
  });
  after(async () => {
    alice?.ch.close();
    await alice?.d.kill();
    await node?.stop().catch(() => undefined);
    await dir?.remove();
  });

  it('a wallet coin hand-picked for a DLC offer is never chosen by wallet.fundpsbt or wallet.send, nor taken by a channel', async () => {
    dlcId = (await call<{ id: string }>(alice.ch, 'dlc.offer', offerParams([coinX]))).id;
    const x = await unspentOf(coinX);
    assert.deepEqual([x?.reserved_by, x?.spendable], [`dlc:${dlcId}`, false]);
    assert.deepEqual(
      (await reservations()).map((r) => [r.outpoint, r.holder]),
      [[op(coinX), `dlc:${dlcId}`]],
    );

    // Named as an input: refused, naming its holder.
    const named = await alice.ch.call('wallet.fundpsbt', { ...pay(10_000_000), inputs: [outpoint(coinX)] });
    assert.equal(named.error?.code, CONFLICT, JSON.stringify(named));
    assert.match(named.error!.message, new RegExp(`${op(coinX)} is promised to dlc:${dlcId}`));

    // Chosen by the wallet: 90 BTC takes the two free coins, not X; then nothing is left for 1 BTC.
    const f = await call<{ psbt: string; holder: string }>(alice.ch, 'wallet.fundpsbt', pay(9_000_000_000));
    const used = inputsOf(f.psbt);
    assert.equal(used.length, 2);
    assert.ok(!used.includes(op(coinX)), `the DLC's coin is not spent by the PSBT: ${used.join(', ')}`);
    for (const method of ['wallet.fundpsbt', 'wallet.send']) {
      const r = await alice.ch.call(method, pay(100_000_000));
      assert.equal(r.error?.code, INVALID_PARAMS, `${method}: ${JSON.stringify(r)}`);
      assert.match(r.error!.message, /insufficient funds/);
    }
    await call(alice.ch, 'wallet.release', { holder: f.holder });

    // A channel hand-picking it: refused naming the coin and its holder; no channel saved, no promise to it.
    const sc = await alice.ch.call('sc.open', openParams([coinX]));
    assert.equal(sc.error?.code, CONFLICT, JSON.stringify(sc));
    assert.match(sc.error!.message, new RegExp(`${op(coinX)} is promised to dlc:${dlcId}`));
    assert.deepEqual((sc.error?.data as { holder?: string } | undefined)?.holder, `dlc:${dlcId}`);
    assert.deepEqual(await call<unknown[]>(alice.ch, 'sc.list'), []);
    assert.deepEqual(
      (await reservations()).map((r) => r.holder),
      [`dlc:${dlcId}`],
    );
  });

  it('a foreign coin hand-picked for a channel is promised too: a DLC offer of it is refused and nothing of it saved', async () => {
    scId = (await call<{ id: string }>(alice.ch, 'sc.open', openParams([foreign]))).id;
    assert.ok((await reservations()).some((r) => r.outpoint === op(foreign) && r.holder === `sc:${scId}`));
    assert.equal(await unspentOf(foreign), undefined, 'not a wallet coin');

    const contracts = (await call<unknown[]>(alice.ch, 'dlc.list')).length;
    const r = await alice.ch.call('dlc.offer', offerParams([foreign]));
    assert.equal(r.error?.code, CONFLICT, JSON.stringify(r));
    assert.match(r.error!.message, new RegExp(`${op(foreign)} is promised to sc:${scId}`));
    assert.equal((await call<unknown[]>(alice.ch, 'dlc.list')).length, contracts, 'no contract saved');

    // An offer refused by its terms (over dlc.maxfeerate) after the wallet promised its coin: the promise is gone.
    const high = await alice.ch.call('dlc.offer', offerParams([coinY], 7000));
    assert.deepEqual([high.error?.code, (high.error?.data as { rule?: string } | undefined)?.rule], [-32013, 'dlc.maxfeerate'], JSON.stringify(high));
    assert.equal((await unspentOf(coinY))?.reserved_by, null);
    assert.deepEqual((await reservations()).map((x) => x.holder).sort(), [`dlc:${dlcId}`, `sc:${scId}`].sort());
  });

  it('the promises outlive a kill -9; dlc.cancel and sc.cancel give the coins back', async () => {
    await alice.d.kill('SIGKILL');
    alice = { ...(await startParty(dir.path, node, 'alice', { extra: EXTRA, fresh: false })), address: alice.address };
    assert.equal((await unspentOf(coinX))?.reserved_by, `dlc:${dlcId}`);
    const again = await alice.ch.call('wallet.fundpsbt', { ...pay(10_000_000), inputs: [outpoint(coinX)] });
    assert.equal(again.error?.code, CONFLICT, JSON.stringify(again));
    const sc = await alice.ch.call('sc.open', openParams([coinX]));
    assert.match(sc.error?.message ?? '', new RegExp(`is promised to dlc:${dlcId}`), JSON.stringify(sc));
    assert.ok((await reservations()).some((r) => r.outpoint === op(foreign) && r.holder === `sc:${scId}`));

    await call(alice.ch, 'dlc.cancel', { id: dlcId });
    const x = await unspentOf(coinX);
    assert.deepEqual([x?.reserved_by, x?.spendable], [null, true]);
    const f = await call<{ psbt: string }>(alice.ch, 'wallet.fundpsbt', { ...pay(10_000_000), inputs: [outpoint(coinX)] });
    assert.deepEqual(inputsOf(f.psbt), [op(coinX)]);

    await call(alice.ch, 'sc.cancel', { id: scId });
    assert.ok(!(await reservations()).some((r) => r.outpoint === op(foreign)), 'the foreign coin is given back');
    // Free again for another room: a DLC offer of the foreign coin is taken.
    const id = (await call<{ id: string }>(alice.ch, 'dlc.offer', offerParams([foreign]))).id;
    assert.ok((await reservations()).some((r) => r.outpoint === op(foreign) && r.holder === `dlc:${id}`));
  });

  it('promises an earlier run made to a DLC or a channel whose record is gone (a crash between the two) are given back at start', async () => {
    const live = (await reservations()).find((r) => r.outpoint === op(foreign))!;
    assert.match(live.holder, /^dlc:/);
    await alice.d.kill('SIGKILL');
    // What a kill between the promise and the record leaves: promises to holders no record answers for.
    const store = await Store.open(join(dir.path, 'alice', 'regtest', 'state'));
    try {
      const db = await store.room('wallet');
      const at = Date.now() - 60_000;
      const promise = (holder: string) => ({ holder, expires_at: at + 30 * 86_400_000, created_at: at });
      await store.batch([
        { type: 'put', sublevel: db, key: `r:${'aa'.repeat(32)}:0`, value: promise(`dlc:${'bb'.repeat(32)}`) },
        { type: 'put', sublevel: db, key: `r:${'aa'.repeat(32)}:1`, value: promise(`sc:${'cc'.repeat(32)}`) },
        { type: 'put', sublevel: db, key: `r:${'aa'.repeat(32)}:2`, value: promise('psbt:an-app') },
      ]);
    } finally {
      await store.close();
    }
    alice = { ...(await startParty(dir.path, node, 'alice', { extra: EXTRA, fresh: false })), address: alice.address };
    const left = await until('the orphans given back', async () => {
      const all = await reservations();
      return all.some((r) => r.holder.endsWith('bb'.repeat(32)) || r.holder.endsWith('cc'.repeat(32))) ? undefined : all;
    });
    assert.ok(
      left.some((r) => r.outpoint === op(foreign) && r.holder === live.holder),
      'the live contract keeps its coin',
    );
    assert.ok(
      left.some((r) => r.holder === 'psbt:an-app'),
      'a holder no room adopted is left to its expiry',
    );
    assert.ok(alice.d.logs.some((l) => /given back/.test(String(l.msg))));
  });
});
