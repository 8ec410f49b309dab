// Contracts and channels funded by the wallet room (issue 27 item 4): two anyads on one bcoin regtest node, each
// with its wallet funded by mined P2WPKH coinbases. Alice offers a DLC and opens a channel at the same time, neither
// with utxos: the wallet promises each its own coins (wallet.listreservations names both holders, no outpoint
// twice). Bob accepts the DLC from his wallet too; both fundings are signed by the HSM through the wallet coins' key
// origins and confirm; the DLC's change and CET payout and the channel's funding change land in Alice's wallet. A
// cancelled contract or channel gives its coins back; an offer refused after the wallet chose coins keeps none.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startBcoin, newWallet, type BcoinNode } from '../helpers/bcoin.js';
import { call, startParty, type Party } from '../helpers/contract-party.js';
import { tempDir } from '../helpers/daemon.js';
import { until } from '../helpers/until.js';
import { enumDescriptor, makeOracle } from '../peers/dlc-oracle.js';
import { winLoseOffer } from '../helpers/dlc-offers.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const DELAY = 6;

interface Reservation {
  outpoint: string;
  holder: string;
}
interface Coin {
  txid: string;
  vout: number;
  amount_sat: number;
}

describe('DLC and channel funded by the wallet: one coin service for both rooms', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let node: BcoinNode;
  let alice: Party;
  let bob: Party;
  const oracle = makeOracle(enumDescriptor(['win', 'lose']), 1, 'wallet-funded-match', 'tagged', 1_600_000_000);

  const reservations = (p: Party): Promise<Reservation[]> => call<Reservation[]>(p.ch, 'wallet.listreservations');
  const unspent = (p: Party): Promise<Coin[]> => call<Coin[]>(p.ch, 'wallet.listunspent');
  const walletAddress = async (p: Party): Promise<string> => (await call<{ address: string }>(p.ch, 'wallet.getnewaddress')).address;
  const inMempool = (txid: string): Promise<true> =>
    until(`${txid} in the node's mempool`, async () => ((await node.rpc<string[]>('getrawmempool')).includes(txid) ? true : undefined));
  const dlcState = (p: Party, id: string, want: string): Promise<true> =>
    until(`DLC ${want}`, async () => ((await call<{ state: string }>(p.ch, 'dlc.get', { id })).state === want ? true : undefined), 800);
  const scState = (p: Party, id: string, want: string): Promise<true> =>
    until(`channel ${want}`, async () => ((await call<{ state: string }>(p.ch, 'sc.get', { id })).state === want ? true : undefined), 800);
  /** Waits until the wallet holds an unspent output of `txid` (what a payment to it looks like). */
  const walletHolds = (p: Party, txid: string): Promise<Coin> =>
    until(`a wallet coin of ${txid}`, async () => (await unspent(p)).find((c) => c.txid === txid), 300);
  const offerParams = (collateral: number): Record<string, unknown> => winLoseOffer(hex(oracle.ann), collateral, 2);
  const openParams = { capacity_sat: 50_000_000, push_sat: 0, to_self_delay: DELAY, fee_rate_sat_vb: 2 };

  before(async () => {
    dir = await tempDir();
    node = await startBcoin(dir.path);
    const extra = ['-dlc.minrefunddelay=600', '-dlc.maxrefunddelay=0', `-sc.mintoselfdelay=${DELAY}`];
    alice = await startParty(dir.path, node, 'alice', { extra });
    bob = await startParty(dir.path, node, 'bob', { extra });
    // Mined to the wallets early (regtest's subsidy halves every 150 blocks): three 50 BTC coinbases to Alice's
    // wallet, two to Bob's, matured by 100 blocks to someone else.
    for (const p of [alice, alice, alice, bob, bob]) await node.mine(1, await walletAddress(p));
    await node.mine(100, newWallet().address);
    for (const [p, want] of [
      [alice, 150e8],
      [bob, 100e8],
    ] as const)
      await until('the wallet sees its mature coins', async () =>
        (await call<{ confirmed_sat: number }>(p.ch, 'wallet.getbalance')).confirmed_sat >= want ? true : undefined,
      );
  });
  after(async () => {
    for (const p of [alice, bob]) {
      p?.ch.close();
      await p?.d.kill();
    }
    await node?.stop().catch(() => undefined);
    await dir?.remove();
  });

  it('a DLC and a channel funded at once get different coins; both fund on chain, their change and the payout land in the wallet', async () => {
    const [offered, opened] = await Promise.all([
      call<{ id: string; offer: string }>(alice.ch, 'dlc.offer', offerParams(100_000_000)),
      call<{ id: string; message: string }>(alice.ch, 'sc.open', openParams),
    ]);
    const held = await reservations(alice);
    const dlcCoins = held.filter((r) => r.holder === `dlc:${offered.id}`).map((r) => r.outpoint);
    const scCoins = held.filter((r) => r.holder === `sc:${opened.id}`).map((r) => r.outpoint);
    assert.ok(dlcCoins.length > 0 && scCoins.length > 0, JSON.stringify(held));
    assert.deepEqual(
      dlcCoins.filter((o) => scCoins.includes(o)),
      [],
      'no coin promised to both',
    );
    const contract = await call<{ keys: { payout: string; change: string } }>(alice.ch, 'dlc.get', { id: offered.id });
    assert.deepEqual([contract.keys.payout, contract.keys.change], ['wallet', 'wallet']);

    // The DLC: Bob's wallet funds his side too.
    const accepted = await call<{ accept: string }>(bob.ch, 'dlc.accept', { offer: offered.offer });
    assert.ok((await reservations(bob)).some((r) => r.holder === `dlc:${offered.id}`));
    const signed = await call<{ sign: string }>(alice.ch, 'dlc.sign', { accept: accepted.accept });
    const funded = await call<{ txid: string }>(bob.ch, 'dlc.finalize', { sign: signed.sign });
    await inMempool(funded.txid);

    // The channel: the funding PSBT spends Alice's wallet coins, signed by the HSM through their key origin.
    const acc = await call<{ message: string }>(bob.ch, 'sc.accept', { message: opened.message, to_self_delay: DELAY });
    const created = await call<{ message: string }>(alice.ch, 'sc.receive', { message: acc.message });
    const fundingSigned = await call<{ message: string }>(bob.ch, 'sc.receive', { message: created.message });
    const scFunded = await call<{ txid: string }>(alice.ch, 'sc.receive', { message: fundingSigned.message });
    await inMempool(scFunded.txid);

    await node.mine(1, newWallet().address);
    await dlcState(alice, offered.id, 'confirmed');
    await dlcState(bob, offered.id, 'confirmed');
    await scState(alice, opened.id, 'open');
    await scState(bob, opened.id, 'open');
    // Spent coins keep no promise; the fundings' change is the wallets' (one output of each funding transaction).
    await until('the spent coins released', async () => ((await reservations(alice)).length === 0 ? true : undefined));
    await walletHolds(alice, funded.txid);
    await walletHolds(bob, funded.txid);
    await walletHolds(alice, scFunded.txid);
    const spent = new Set([...dlcCoins, ...scCoins]);
    assert.ok(
      (await unspent(alice)).every((c) => !spent.has(`${c.txid}:${c.vout}`)),
      'the promised coins are spent',
    );

    // The attested CET pays Alice's payout: a wallet address, so the wallet holds it.
    const closed = await call<{ txid: string }>(alice.ch, 'dlc.close', { id: offered.id, attestation: hex(oracle.attest(['win'])) });
    await inMempool(closed.txid);
    await node.mine(1, newWallet().address);
    const payout = await walletHolds(alice, closed.txid);
    assert.ok(payout.amount_sat >= 200_000_000, `the whole 2 BTC collateral paid to the wallet (${payout.amount_sat})`);
  });

  it('a cancelled DLC or channel gives its coins back; an offer refused after the choice keeps none', async () => {
    const offered = await call<{ id: string }>(alice.ch, 'dlc.offer', offerParams(10_000_000));
    const opened = await call<{ id: string }>(alice.ch, 'sc.open', openParams);
    const holders = new Set((await reservations(alice)).map((r) => r.holder));
    assert.ok(holders.has(`dlc:${offered.id}`) && holders.has(`sc:${opened.id}`), JSON.stringify([...holders]));
    await call(alice.ch, 'dlc.cancel', { id: offered.id });
    assert.deepEqual(
      (await reservations(alice)).map((r) => r.holder),
      (await reservations(alice)).map(() => `sc:${opened.id}`),
      'only the channel keeps coins',
    );
    await call(alice.ch, 'sc.cancel', { id: opened.id });
    assert.deepEqual(await reservations(alice), []);

    // Over dlc.maxfeerate: refused by the offer's terms after the wallet chose its coins, which it takes back.
    const r = await alice.ch.call('dlc.offer', { ...offerParams(10_000_000), fee_rate_sat_vb: 7000 });
    assert.deepEqual([r.error?.code, (r.error?.data as { rule?: string } | undefined)?.rule], [-32013, 'dlc.maxfeerate'], JSON.stringify(r));
    assert.deepEqual(await reservations(alice), []);

    // More than the wallet holds: refused naming the amounts, nothing promised.
    const big = await alice.ch.call('dlc.offer', offerParams(1_000_000_000_000));
    assert.equal(big.error?.code, -32602, JSON.stringify(big));
    assert.match(big.error!.message, /insufficient funds/);
    assert.deepEqual(await reservations(alice), []);
  });
});
