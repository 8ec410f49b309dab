// The DLC room end to end, the enumerated contract flow: two anyad instances (Alice offers, Bob accepts) on one bcoin
// regtest node with a test oracle (test/peers/dlc-oracle.ts), set up by dlc-setup.ts. Offer → accept → sign →
// finalize: the funding transaction confirms with both parties' keystore coins; the oracle attests, Alice's anyad
// completes the attested outcome's CET and the node takes it, paying the outcome's payouts; Bob's anyad sees its
// funding spent by that CET and records the outcome. A mutual close (close_dlc) before any attestation. Refusals: an
// attestation of another event, an adaptor signature that does not verify, an offer for another chain, collateral
// over the policy, and a PKCS#11 token that cannot make adaptor signatures. The numeric and multi-oracle contracts
// are in dlc-oracles.test.ts, the restarts and the refund in dlc-restarts.test.ts.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as bitcoin from 'bitcoinjs-lib';
import { unixChannel } from '../helpers/channel.js';
import { startDaemon, tempDir } from '../helpers/daemon.js';
import { until } from '../helpers/until.js';
import { enumDescriptor, makeOracle } from '../peers/dlc-oracle.js';
import { hasSoftHsm, makeToken, SOFTHSM_MODULE } from '../helpers/softhsm.js';
import { call, hex, twoAnyads, type Party } from './dlc-setup.js';

describe('DLC: two anyads, one regtest chain, an oracle', () => {
  const w = twoAnyads();
  const { coinbase, state, waitState, fund } = w;

  it('offer, accept, sign, finalize; the attested CET pays the outcome; both anyads record it', async () => {
    const [bobBlock] = await w.node.mine(1, w.bob.address);
    const [aliceBlock] = await w.node.mine(101, w.alice.address);
    const aliceCoin = await coinbase(aliceBlock!);
    const bobCoin = await coinbase(bobBlock!);
    const oracle = makeOracle(enumDescriptor(['win', 'lose', 'draw']), 1, 'match-2026-11-30', 'tagged', 1_600_000_000);
    await call(w.alice.ch, 'subscribe', { topics: ['dlc.contract'] });

    const ann = hex(oracle.ann);
    const verified = await call<{ event: { event_id: string } }>(w.alice.ch, 'dlc.verifyannouncement', { announcement: ann });
    assert.equal(verified.event.event_id, 'match-2026-11-30');

    const offered = await call<{ id: string; offer: string }>(w.alice.ch, 'dlc.offer', {
      announcement: ann,
      payouts: [
        { outcome: 'win', offer_payout_sat: 200_000_000 },
        { outcome: 'lose', offer_payout_sat: 0 },
        { outcome: 'draw', offer_payout_sat: 100_000_000 },
      ],
      offer_collateral_sat: 100_000_000,
      total_collateral_sat: 200_000_000,
      fee_rate_sat_vb: 2,
      utxos: [aliceCoin],
    });
    // 24 accepts of the offer at once over Bob's socket: exactly one is made, the others are conflicts.
    const tries = await Promise.all(Array.from({ length: 24 }, () => w.bob.ch.call('dlc.accept', { offer: offered.offer, utxos: [bobCoin] })));
    const won = tries.filter((r) => r.result);
    assert.equal(won.length, 1, JSON.stringify(tries.filter((r) => r.error && r.error.code !== -32014).slice(0, 2)));
    assert.ok(tries.every((r) => r.result || r.error?.code === -32014));
    const accepted = won[0]!.result as { id: string; accept: string };
    assert.equal(accepted.id, offered.id);
    // The hand-picked coins (keystore keys', foreign to the wallets) are promised by each wallet to the contract.
    const held = async (p: Party): Promise<string[]> =>
      (await call<Array<{ outpoint: string; holder: string }>>(p.ch, 'wallet.listreservations')).map((r) => `${r.outpoint} ${r.holder}`);
    assert.deepEqual(await held(w.alice), [`${aliceCoin.txid}:${aliceCoin.vout} dlc:${offered.id}`]);
    assert.deepEqual(await held(w.bob), [`${bobCoin.txid}:${bobCoin.vout} dlc:${offered.id}`]);
    const signed = await call<{ contract_id: string; sign: string }>(w.alice.ch, 'dlc.sign', { accept: accepted.accept });
    const finalized = await call<{ contract_id: string; txid: string }>(w.bob.ch, 'dlc.finalize', { sign: signed.sign });
    assert.equal(finalized.contract_id, signed.contract_id);
    await until('the funding transaction in the node mempool', async () =>
      (await w.node.rpc<string[]>('getrawmempool')).includes(finalized.txid) ? true : undefined,
    );
    await w.node.mine(1, w.bob.address);
    await waitState(w.alice, offered.id, 'confirmed');
    await waitState(w.bob, offered.id, 'confirmed');
    // Spent for good once the funding confirms: the wallets, which never see a foreign coin's spend, are told.
    await until('the promises given back', async () => ((await held(w.alice)).length + (await held(w.bob)).length === 0 ? true : undefined));

    // Another event's attestation is refused, naming the event
    const other = makeOracle(enumDescriptor(['win', 'lose', 'draw']), 1, 'another-match', 'tagged');
    const wrong = await w.alice.ch.call('dlc.close', { id: offered.id, attestation: hex(other.attest(['win'])) });
    assert.equal(wrong.error?.code, -32602);
    assert.match(wrong.error!.message, /the attestation is by oracle/);

    const closed = await call<{ outcome: string; txid: string }>(w.alice.ch, 'dlc.close', { id: offered.id, attestation: hex(oracle.attest(['win'])) });
    assert.equal(closed.outcome, 'win');
    await until('the CET in the node mempool', async () => ((await w.node.rpc<string[]>('getrawmempool')).includes(closed.txid) ? true : undefined));
    await w.node.mine(1, w.bob.address);
    await waitState(w.alice, offered.id, 'closed');
    await waitState(w.bob, offered.id, 'closed');
    const bobView = await state(w.bob, offered.id);
    assert.deepEqual([bobView.outcome, bobView.closing_txid], ['win', closed.txid], "Bob's anyad knows the CET and its outcome");
    // Through l2.* as well (protocol "dlc").
    const viaL2 = await call<{ status: string; detail: { outcome: string } }>(w.bob.ch, 'l2.status', { protocol: 'dlc', id: offered.id });
    assert.deepEqual([viaL2.status, viaL2.detail.outcome], ['closed', 'win']);

    // The CET pays Alice's payout address the whole 2 BTC (Bob's 0 is no output).
    const cet = bitcoin.Transaction.fromHex(await w.node.rpc<string>('getrawtransaction', closed.txid, false));
    assert.equal(cet.outs.length, 1);
    assert.equal(cet.outs[0]!.value, 200_000_000n);
    const aliceContract = await call<{ keys: { payout: string } }>(w.alice.ch, 'dlc.get', { id: offered.id });
    const payoutPub = await call<{ addresses: { p2wpkh: string } }>(w.alice.ch, 'hsm.getpubkey', { key: aliceContract.keys.payout });
    assert.equal(bitcoin.address.fromOutputScript(cet.outs[0]!.script, bitcoin.networks.regtest), payoutPub.addresses.p2wpkh);

    // Alice's dlc.contract events: every transition once, in order, each naming the one before.
    const events: Array<{ state: string; previous: string | null }> = [];
    while (events.at(-1)?.state !== 'closed') {
      const n = (await w.alice.ch.next(5000)) as { method: string; params?: { topic: string; data: { state: string; previous: string | null } } };
      if (n.params?.topic === 'dlc.contract') events.push({ state: n.params.data.state, previous: n.params.data.previous });
    }
    assert.deepEqual(
      events.map((e) => e.state),
      ['offered', 'signed', 'broadcast', 'confirmed', 'closing', 'closed'],
    );
    assert.deepEqual(
      events.map((e) => e.previous),
      [null, 'offered', 'signed', 'broadcast', 'confirmed', 'closing'],
    );
  });

  it("a mutual close (node-dlc's close_dlc): Alice proposes the split, Bob takes it only at the payout he expects; 8 takes at once make one", async () => {
    const [bobBlock] = await w.node.mine(1, w.bob.address);
    const [aliceBlock] = await w.node.mine(101, w.alice.address);
    const oracle = makeOracle(enumDescriptor(['up', 'down']), 1, 'close-early', 'tagged', 1_600_000_000);
    const offered = await call<{ id: string; offer: string }>(w.alice.ch, 'dlc.offer', {
      announcement: hex(oracle.ann),
      payouts: [
        { outcome: 'up', offer_payout_sat: 60_000_000 },
        { outcome: 'down', offer_payout_sat: 0 },
      ],
      offer_collateral_sat: 30_000_000,
      total_collateral_sat: 60_000_000,
      fee_rate_sat_vb: 2,
      utxos: [await coinbase(aliceBlock!)],
      refund_locktime: 2_000_000_000, // (not refunded by the anyads while the test runs)
    });
    // Before funding there is nothing to close.
    const early = await w.alice.ch.call('dlc.proposeclose', { id: offered.id, payout_sat: 1 });
    assert.equal(early.error?.code, -32014);
    await fund(offered, bobBlock!);

    const proposal = await call<{ close: string; txid: string; offer_payout_sat: number; accept_payout_sat: number }>(w.alice.ch, 'dlc.proposeclose', {
      id: offered.id,
      payout_sat: 45_000_000,
    });
    assert.deepEqual([proposal.offer_payout_sat, proposal.accept_payout_sat], [45_000_000, 15_000_000]);
    assert.equal(proposal.close.slice(0, 4), 'cbca', 'close_dlc_v0 type 52170');
    // Refusals: a payout other than Bob expects, a changed signature, another contract, a cut message, more than the total.
    const greedy = await w.bob.ch.call('dlc.acceptclose', { close: proposal.close, payout_sat: 20_000_000 });
    assert.equal(greedy.error?.code, -32602);
    assert.match(greedy.error!.message, /pays this party 15000000 sat, not the payout_sat 20000000/);
    const msg = Buffer.from(proposal.close, 'hex');
    const badSig = Buffer.from(msg);
    badSig[2 + 32 + 10]! ^= 1;
    const forged = await w.bob.ch.call('dlc.acceptclose', { close: hex(badSig), payout_sat: 15_000_000 });
    assert.equal(forged.error?.code, -32602);
    assert.match(forged.error!.message, /close_signature does not verify/);
    const otherId = Buffer.from(msg);
    otherId[2]! ^= 1;
    const stranger = await w.bob.ch.call('dlc.acceptclose', { close: hex(otherId), payout_sat: 15_000_000 });
    assert.equal(stranger.error?.code, -32011);
    const cut = await w.bob.ch.call('dlc.acceptclose', { close: hex(msg.subarray(0, 60)), payout_sat: 15_000_000 });
    assert.equal(cut.error?.code, -32602);
    assert.match(cut.error!.message, /^close_dlc: /);
    const tooMuch = await w.alice.ch.call('dlc.proposeclose', { id: offered.id, payout_sat: 60_000_001 });
    assert.equal(tooMuch.error?.code, -32602);

    // Alice proposes again (8 times at once, the same split: one proposal kept); Bob takes the first one all the same,
    // and Alice's anyad still recognises it on chain.
    const again = await Promise.all(
      Array.from({ length: 8 }, () => call<{ txid: string }>(w.alice.ch, 'dlc.proposeclose', { id: offered.id, payout_sat: 40_000_000 })),
    );
    assert.equal(new Set(again.map((a) => a.txid)).size, 1);
    assert.notEqual(again[0]!.txid, proposal.txid);
    const takes = await Promise.all(Array.from({ length: 8 }, () => w.bob.ch.call('dlc.acceptclose', { close: proposal.close, payout_sat: 15_000_000 })));
    const took = takes.filter((r) => r.result).map((r) => r.result as { id: string; txid: string });
    assert.equal(took.length, 1, JSON.stringify(takes.find((r) => r.error && r.error.code !== -32014)?.error));
    assert.ok(takes.every((r) => r.result || r.error?.code === -32014));
    assert.equal(took[0]!.txid, proposal.txid, 'the transaction both built');
    await until('the mutual close in the node mempool', async () => ((await w.node.rpc<string[]>('getrawmempool')).includes(proposal.txid) ? true : undefined));
    await w.node.mine(1, w.bob.address);
    await waitState(w.bob, offered.id, 'closed');
    await waitState(w.alice, offered.id, 'closed');
    const aliceView = await state(w.alice, offered.id);
    assert.deepEqual([aliceView.outcome, aliceView.closing_txid], [null, proposal.txid]);

    // On chain: 0.45 BTC to Alice's payout key, 0.15 BTC to Bob's; the fee is the CET fee both put in.
    const tx = bitcoin.Transaction.fromHex(await w.node.rpc<string>('getrawtransaction', proposal.txid, false));
    const payoutAddress = async (p: Party): Promise<string> => {
      const c = await call<{ keys: { payout: string } }>(p.ch, 'dlc.get', { id: offered.id });
      return (await call<{ addresses: { p2wpkh: string } }>(p.ch, 'hsm.getpubkey', { key: c.keys.payout })).addresses.p2wpkh;
    };
    const paid = new Map(tx.outs.map((o) => [bitcoin.address.fromOutputScript(o.script, bitcoin.networks.regtest), o.value]));
    assert.equal(paid.get(await payoutAddress(w.alice)), 45_000_000n);
    assert.equal(paid.get(await payoutAddress(w.bob)), 15_000_000n);
    assert.equal(tx.outs.length, 2);
  });

  it('refuses an adaptor signature that does not verify, an offer for another chain, and collateral over the policy', async () => {
    const [bobBlock] = await w.node.mine(1, w.bob.address);
    const [aliceBlock] = await w.node.mine(101, w.alice.address);
    const aliceCoin = await coinbase(aliceBlock!);
    const oracle = makeOracle(enumDescriptor(['heads', 'tails']), 1, 'coin-toss', 'sha256', 1_600_000_000);
    const offer = async (): Promise<{ id: string; offer: string }> =>
      call(w.alice.ch, 'dlc.offer', {
        announcement: hex(oracle.ann),
        payouts: [
          { outcome: 'heads', offer_payout_sat: 20_000_000 },
          { outcome: 'tails', offer_payout_sat: 0 },
        ],
        offer_collateral_sat: 10_000_000,
        total_collateral_sat: 20_000_000,
        fee_rate_sat_vb: 1,
        utxos: [aliceCoin],
      });
    const offered = await offer();
    // another chain: the offer's chain_hash (bytes 7..38) changed
    const otherChain = offered.offer.slice(0, 14) + '00'.repeat(32) + offered.offer.slice(78);
    const wrongChain = await w.bob.ch.call('dlc.accept', { offer: otherChain, utxos: [await coinbase(bobBlock!)] });
    assert.equal(wrongChain.error?.code, -32602);
    assert.match(wrongChain.error!.message, /the offer is for another chain/);
    // an adaptor signature changed in Bob's accept: Alice's anyad refuses it, names the outcome, signs nothing
    const accepted = await call<{ accept: string }>(w.bob.ch, 'dlc.accept', { offer: offered.offer, utxos: [await coinbase(bobBlock!)] });
    const at = accepted.accept.length - 2 * (64 + 1 + 162) + 2 * 100; // inside the last adaptor signature's proof
    const tampered = accepted.accept.slice(0, at) + (accepted.accept[at] === '0' ? '1' : '0') + accepted.accept.slice(at + 1);
    const bad = await w.alice.ch.call('dlc.sign', { accept: tampered });
    assert.equal(bad.error?.code, -32602);
    assert.match(bad.error!.message, /adaptor signature for outcome "tails" does not verify/);
    assert.equal((await state(w.alice, offered.id)).state, 'offered');
    // collateral over the signing policy of the coin's key: the funding input is not signed, nothing moves
    const coinKey = (await call<Array<{ id: string; label: string }>>(w.alice.ch, 'hsm.listkeys')).find((k) => k.label === 'alice coins')!;
    await call(w.alice.ch, 'hsm.setpolicy', { subject: `key:${coinKey.id}`, policy: { max_amount_sat: 1_000_000 } });
    const denied = await w.alice.ch.call('dlc.sign', { accept: accepted.accept });
    assert.equal(denied.error?.code, -32013, JSON.stringify(denied.error));
    assert.equal((await state(w.alice, offered.id)).state, 'offered');
    await call(w.alice.ch, 'hsm.setpolicy', { subject: `key:${coinKey.id}`, policy: null });
  });
});

describe('DLC with a PKCS#11 token', { skip: hasSoftHsm ? false : `${SOFTHSM_MODULE} missing` }, () => {
  it('refuses by name before any key is made: a token cannot make adaptor signatures', async () => {
    const dir = await tempDir();
    try {
      const token = await makeToken(join(dir.path, 'hsm'));
      const d = await startDaemon(join(dir.path, 'anya'), {
        args: ['-hsm.provider=pkcs11', `-hsm.pinfile=${token.pinFile}`, '-bitcoind.rpcport=1', '-noml.enable'],
        env: { SOFTHSM2_CONF: token.conf },
      });
      const ch = await unixChannel(d.socket);
      const oracle = makeOracle(enumDescriptor(['a', 'b']), 1, 'token', 'tagged');
      const r = await ch.call('dlc.offer', {
        announcement: hex(oracle.ann),
        payouts: [
          { outcome: 'a', offer_payout_sat: 1000 },
          { outcome: 'b', offer_payout_sat: 0 },
        ],
        offer_collateral_sat: 1000,
        total_collateral_sat: 2000,
        fee_rate_sat_vb: 1,
        utxos: [{ txid: '11'.repeat(32), vout: 0 }],
      });
      assert.equal(r.error?.code, -32017, JSON.stringify(r));
      assert.match(r.error!.message, /pkcs11 provider cannot make ECDSA adaptor signatures.*hsm\.provider=software/);
      assert.deepEqual(await call(ch, 'hsm.listkeys'), [], 'no key was made');
      ch.close();
      await d.kill();
    } finally {
      await dir.remove();
    }
  });
});
