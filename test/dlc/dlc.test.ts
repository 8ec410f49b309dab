// The DLC room end to end: two anyad instances (Alice offers, Bob accepts), each with its own datadir and software
// keystore, on one bcoin regtest node, with a test oracle (test/peers/dlc-oracle.ts). Offer → accept → sign →
// finalize: the funding transaction confirms with both parties' keystore coins; the oracle attests, Alice's anyad
// completes the attested outcome's CET and the node takes it, paying the outcome's payouts; Bob's anyad sees its
// funding spent by that CET and records the outcome. A second contract whose refund locktime passes is refunded
// by the anyads themselves (dlc.autorefund). Refusals: an accept of a known contract, a changed announcement, an
// attestation of another event, a sign for no contract.

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as bitcoin from 'bitcoinjs-lib';
import { startBcoin, type BcoinNode } from '../helpers/bcoin.js';
import { unixChannel, type Channel } from '../helpers/channel.js';
import { startDaemon, tempDir, type RunningDaemon } from '../helpers/daemon.js';
import { until } from '../helpers/until.js';
import { keystorePartyArgs } from '../helpers/keystore-party.js';
import { digitDescriptor, enumDescriptor, makeOracle } from '../peers/dlc-oracle.js';
import { startP2pdOracle } from '../peers/p2pd-oracle.js';
import { hasSoftHsm, makeToken, SOFTHSM_MODULE } from '../helpers/softhsm.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
/** The daemons' error log lines, appended to a failed call's message (what went wrong inside is there). */
let errorLogs = (): string => '';

interface Party {
  d: RunningDaemon;
  ch: Channel;
  address: string;
}

async function call<T>(ch: Channel, method: string, params?: unknown): Promise<T> {
  // A numeric contract's offer, accept and sign make and check hundreds of adaptor signatures: seconds, more under load.
  const r = await ch.call(method, params, undefined, 60_000);
  if (r.error) throw new Error(`${method}: ${r.error.code} ${r.error.message}${errorLogs()}`);
  return r.result as T;
}

describe('DLC: two anyads, one regtest chain, an oracle', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let node: BcoinNode;
  let alice: Party;
  let bob: Party;

  const start = async (name: string, fresh = true, extra: string[] = []): Promise<Party> => {
    const pf = join(dir.path, `${name}.pass`);
    if (fresh) await writeFile(pf, `${name}'s keystore passphrase\n`, { mode: 0o600 });
    // The refund test uses block-height locktimes 4 blocks apart, and the mutual close and threshold tests a refund
    // locktime years after their events: the room's bounds on the refund delay opened for them (dlc-hostile.test.ts
    // tests the bounds).
    const d = await startDaemon(join(dir.path, name), {
      args: keystorePartyArgs(node, pf, ['-dlc.minrefunddelay=600', '-dlc.maxrefunddelay=0', ...extra]),
    });
    const ch = await unixChannel(d.socket);
    if (!fresh) return { d, ch, address: '' };
    const key = await call<{ id: string }>(ch, 'hsm.generatekey', { label: `${name} coins` });
    const pub = await call<{ addresses: { p2wpkh: string } }>(ch, 'hsm.getpubkey', { key: key.id });
    return { d, ch, address: pub.addresses.p2wpkh };
  };
  /** The coinbase output of the block at `hash` (50 BTC to the miner's address). */
  const coinbase = async (hash: string): Promise<{ txid: string; vout: number }> => {
    const block = await node.rpc<{ tx: string[] }>('getblock', hash, true, false);
    return { txid: block.tx[0]!, vout: 0 };
  };
  const state = async (p: Party, id: string): Promise<{ state: string; outcome: string | null; closing_txid: string | null }> => call(p.ch, 'dlc.get', { id });
  const waitState = (p: Party, id: string, want: string) =>
    until(`${want}`, async () => ((await state(p, id)).state === want ? true : undefined), 800).catch(async (err: Error) => {
      throw new Error(`${err.message} (it is ${(await state(p, id)).state}); ${JSON.stringify(p.d.logs.filter((l) => (l.level as number) >= 40).slice(-5))}`);
    });

  /** Bob accepts with the coinbase of his block, Alice signs, Bob funds; the funding confirms at both. */
  const fund = async (offered: { id: string; offer: string }, bobBlock: string): Promise<void> => {
    const accepted = await call<{ accept: string }>(bob.ch, 'dlc.accept', { offer: offered.offer, utxos: [await coinbase(bobBlock)] });
    const signed = await call<{ sign: string }>(alice.ch, 'dlc.sign', { accept: accepted.accept });
    const funded = await call<{ txid: string }>(bob.ch, 'dlc.finalize', { sign: signed.sign });
    await until('the funding transaction in the node mempool', async () =>
      (await node.rpc<string[]>('getrawmempool')).includes(funded.txid) ? true : undefined,
    );
    await node.mine(1, bob.address);
    await waitState(alice, offered.id, 'confirmed');
    await waitState(bob, offered.id, 'confirmed');
  };

  before(async () => {
    dir = await tempDir();
    node = await startBcoin(dir.path);
    alice = await start('alice');
    errorLogs = () => JSON.stringify([...alice.d.logs, ...(bob?.d.logs ?? [])].filter((l) => (l.level as number) >= 50));
    bob = await start('bob');
    await until('both connected to the node', async () => {
      const a = await call<{ state: string }>(alice.ch, 'chain.getinfo');
      const b = await call<{ state: string }>(bob.ch, 'chain.getinfo');
      return a.state === 'connected' && b.state === 'connected' ? true : undefined;
    });
  });
  after(async () => {
    alice?.ch.close();
    bob?.ch.close();
    await alice?.d.kill();
    await bob?.d.kill();
    await node?.stop().catch(() => undefined);
    await dir?.remove();
  });

  it('offer, accept, sign, finalize; the attested CET pays the outcome; both anyads record it', async () => {
    const [bobBlock] = await node.mine(1, bob.address);
    const [aliceBlock] = await node.mine(101, alice.address);
    const aliceCoin = await coinbase(aliceBlock!);
    const bobCoin = await coinbase(bobBlock!);
    const oracle = makeOracle(enumDescriptor(['win', 'lose', 'draw']), 1, 'match-2026-11-30', 'tagged', 1_600_000_000);
    await call(alice.ch, 'subscribe', { topics: ['dlc.contract'] });

    const ann = hex(oracle.ann);
    const verified = await call<{ event: { event_id: string } }>(alice.ch, 'dlc.verifyannouncement', { announcement: ann });
    assert.equal(verified.event.event_id, 'match-2026-11-30');

    const offered = await call<{ id: string; offer: string }>(alice.ch, 'dlc.offer', {
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
    const tries = await Promise.all(Array.from({ length: 24 }, () => bob.ch.call('dlc.accept', { offer: offered.offer, utxos: [bobCoin] })));
    const won = tries.filter((r) => r.result);
    assert.equal(won.length, 1, JSON.stringify(tries.filter((r) => r.error && r.error.code !== -32014).slice(0, 2)));
    assert.ok(tries.every((r) => r.result || r.error?.code === -32014));
    const accepted = won[0]!.result as { id: string; accept: string };
    assert.equal(accepted.id, offered.id);
    const signed = await call<{ contract_id: string; sign: string }>(alice.ch, 'dlc.sign', { accept: accepted.accept });
    const finalized = await call<{ contract_id: string; txid: string }>(bob.ch, 'dlc.finalize', { sign: signed.sign });
    assert.equal(finalized.contract_id, signed.contract_id);
    await until('the funding transaction in the node mempool', async () =>
      (await node.rpc<string[]>('getrawmempool')).includes(finalized.txid) ? true : undefined,
    );
    await node.mine(1, bob.address);
    await waitState(alice, offered.id, 'confirmed');
    await waitState(bob, offered.id, 'confirmed');

    // Another event's attestation is refused, naming the event
    const other = makeOracle(enumDescriptor(['win', 'lose', 'draw']), 1, 'another-match', 'tagged');
    const wrong = await alice.ch.call('dlc.close', { id: offered.id, attestation: hex(other.attest(['win'])) });
    assert.equal(wrong.error?.code, -32602);
    assert.match(wrong.error!.message, /the attestation is by oracle/);

    const closed = await call<{ outcome: string; txid: string }>(alice.ch, 'dlc.close', { id: offered.id, attestation: hex(oracle.attest(['win'])) });
    assert.equal(closed.outcome, 'win');
    await until('the CET in the node mempool', async () => ((await node.rpc<string[]>('getrawmempool')).includes(closed.txid) ? true : undefined));
    await node.mine(1, bob.address);
    await waitState(alice, offered.id, 'closed');
    await waitState(bob, offered.id, 'closed');
    const bobView = await state(bob, offered.id);
    assert.deepEqual([bobView.outcome, bobView.closing_txid], ['win', closed.txid], "Bob's anyad knows the CET and its outcome");
    // Through l2.* as well (protocol "dlc").
    const viaL2 = await call<{ status: string; detail: { outcome: string } }>(bob.ch, 'l2.status', { protocol: 'dlc', id: offered.id });
    assert.deepEqual([viaL2.status, viaL2.detail.outcome], ['closed', 'win']);

    // The CET pays Alice's payout address the whole 2 BTC (Bob's 0 is no output).
    const cet = bitcoin.Transaction.fromHex(await node.rpc<string>('getrawtransaction', closed.txid, false));
    assert.equal(cet.outs.length, 1);
    assert.equal(cet.outs[0]!.value, 200_000_000n);
    const aliceContract = await call<{ keys: { payout: string } }>(alice.ch, 'dlc.get', { id: offered.id });
    const payoutPub = await call<{ addresses: { p2wpkh: string } }>(alice.ch, 'hsm.getpubkey', { key: aliceContract.keys.payout });
    assert.equal(bitcoin.address.fromOutputScript(cet.outs[0]!.script, bitcoin.networks.regtest), payoutPub.addresses.p2wpkh);

    // Alice's dlc.contract events: every transition once, in order, each naming the one before.
    const events: Array<{ state: string; previous: string | null }> = [];
    while (events.at(-1)?.state !== 'closed') {
      const n = (await alice.ch.next(5000)) as { method: string; params?: { topic: string; data: { state: string; previous: string | null } } };
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

  it('a numeric contract: a payout curve of three pieces over 10 binary digits, closed by the attested value', async () => {
    const [bobBlock] = await node.mine(1, bob.address);
    const [aliceBlock] = await node.mine(101, alice.address);
    const oracle = makeOracle(digitDescriptor(2, false, 10), 10, 'btcusd-2026-11-30', 'tagged', 1_600_000_000);
    // Alice gets nothing up to 400, all of the 1 BTC from 600, a straight line between; rounded to 0.01 BTC.
    const offered = await call<{ id: string; offer: string }>(alice.ch, 'dlc.offer', {
      announcement: hex(oracle.ann),
      payout_curve: [
        { outcome: 0, offer_payout_sat: 0 },
        { outcome: 400, offer_payout_sat: 0 },
        { outcome: 600, offer_payout_sat: 100_000_000 },
        { outcome: 1023, offer_payout_sat: 100_000_000 },
      ],
      rounding_mod: 1_000_000,
      offer_collateral_sat: 50_000_000,
      total_collateral_sat: 100_000_000,
      fee_rate_sat_vb: 1,
      utxos: [await coinbase(aliceBlock!)],
    });
    await fund(offered, bobBlock!);
    const cets = (await call<{ accept: string }>(bob.ch, 'dlc.get', { id: offered.id })) as unknown as { accept: string };
    assert.ok(cets.accept.length > 100 * 324, 'about a hundred CETs, each with its adaptor signature');
    // The oracle attests 500 = 0111110100: the CET of the prefix covering 500 pays half to each.
    const digits = (500).toString(2).padStart(10, '0').split('');
    const closed = await call<{ outcome: string; txid: string }>(alice.ch, 'dlc.close', { id: offered.id, attestation: hex(oracle.attest(digits)) });
    assert.ok(digits.join('').startsWith(closed.outcome), `${closed.outcome} is a prefix of ${digits.join('')}`);
    await until('the CET in the node mempool', async () => ((await node.rpc<string[]>('getrawmempool')).includes(closed.txid) ? true : undefined));
    await node.mine(1, bob.address);
    await waitState(bob, offered.id, 'closed');
    const cet = bitcoin.Transaction.fromHex(await node.rpc<string>('getrawtransaction', closed.txid, false));
    assert.deepEqual(
      cet.outs.map((o) => o.value),
      [50_000_000n, 50_000_000n],
    );
    // Outside the event: refused with the digit named
    const bad = await bob.ch.call('dlc.verifyattestation', { announcement: hex(oracle.ann), attestation: hex(oracle.attest([...digits.slice(0, 9), '2'])) });
    assert.match(bad.error!.message, /digit 10 is "2", not a base-2 digit/);
  });

  it("with dlc.oracle: the announcement fetched from the oracle's HTTP API, the contract closed by the anyads once it attests", async () => {
    const oracle = await startP2pdOracle(['up', 'down'], Math.floor(Date.now() / 1000) - 60);
    try {
      for (const name of ['alice', 'bob'] as const) {
        const p = name === 'alice' ? alice : bob;
        p.ch.close();
        await p.d.kill();
        const restarted = { ...(await start(name, false, [`-dlc.oracle=${oracle.url}`])), address: p.address };
        if (name === 'alice') alice = restarted;
        else bob = restarted;
      }
      const [bobBlock] = await node.mine(1, bob.address);
      const [aliceBlock] = await node.mine(101, alice.address);
      const fetched = await call<{ announcement: string; oracle: string }>(alice.ch, 'dlc.fetchannouncement', { event_id: oracle.eventId });
      assert.equal(fetched.oracle, oracle.url);
      const missing = await alice.ch.call('dlc.fetchannouncement', { event_id: 'btcusd1000000000' });
      assert.equal(missing.error?.code, -32011);
      const offered = await call<{ id: string; offer: string }>(alice.ch, 'dlc.offer', {
        announcement: fetched.announcement,
        payouts: [
          { outcome: 'up', offer_payout_sat: 30_000_000 },
          { outcome: 'down', offer_payout_sat: 0 },
        ],
        offer_collateral_sat: 15_000_000,
        total_collateral_sat: 30_000_000,
        fee_rate_sat_vb: 1,
        utxos: [await coinbase(aliceBlock!)],
      });
      await fund(offered, bobBlock!);
      // Not attested yet: a block passes and nothing is sent.
      await node.mine(1, bob.address);
      await until('the anyads to ask the oracle', async () => (oracle.seen.filter((x) => x.includes('/attestation/')).length >= 2 ? true : undefined));
      assert.equal((await state(alice, offered.id)).state, 'confirmed');
      // Alice's anyad is killed before the attestation and started again after it: it resumes and closes.
      alice.ch.close();
      await alice.d.kill('SIGKILL');
      oracle.attest('up');
      alice = { ...(await start('alice', false, [`-dlc.oracle=${oracle.url}`])), address: alice.address };
      // At each block the anyads fetch the attestation and send the CET (a failed try is retried at the next block,
      // as dlc.autoclose says): within a few blocks one of them has.
      let sent = false;
      for (let block = 0; block < 5 && !sent; block++) {
        await node.mine(1, bob.address);
        sent = await until(
          'the CET sent',
          async () => ((await node.rpc<string[]>('getrawmempool')).length > 0 || (await state(bob, offered.id)).state === 'closed' ? true : undefined),
          400,
        ).catch(() => false);
      }
      if (!sent) {
        // What each anyad knows and said about the contract, to tell a stuck follower from a refused transaction.
        const views = await Promise.all(
          [alice, bob].map((p) =>
            state(p, offered.id).then(
              (v) => v.state,
              (e: Error) => e.message,
            ),
          ),
        );
        const said = [...alice.d.logs, ...bob.d.logs].filter((l) => /DLC/.test(String(l.msg))).slice(-10);
        assert.fail(`no CET after 5 blocks; states ${JSON.stringify(views)}; ${JSON.stringify(said)}`);
      }
      await node.mine(1, bob.address);
      await node.mine(1, bob.address);
      await waitState(alice, offered.id, 'closed');
      await waitState(bob, offered.id, 'closed');
      assert.equal((await state(bob, offered.id)).outcome, 'up');
      // The CET signature made by the room itself names it (issue 35): "anyad dlc (dlc.autoclose)".
      const cetCallers: string[] = [];
      for (const p of [alice, bob])
        for (const e of await call<Array<{ detail: Record<string, unknown> }>>(p.ch, 'hsm.audit', { from: 1, limit: 1000 }))
          if (e.detail.contract === offered.id && e.detail.purpose === 'cet') cetCallers.push(String(e.detail.caller));
      assert.ok(cetCallers.includes('anyad dlc (dlc.autoclose)'), cetCallers.join(', '));
    } finally {
      await oracle.close();
    }
  });

  it('a contract past its refund locktime is refunded by the anyads themselves; bad messages are refused', async () => {
    const [bobBlock] = await node.mine(1, bob.address);
    const [aliceBlock] = await node.mine(101, alice.address);
    const oracle = makeOracle(enumDescriptor(['yes', 'no']), 1, 'refund-me', 'sha256', 1_600_000_000);
    const height = (await node.rpc<{ blocks: number }>('getblockchaininfo')).blocks;
    const terms = {
      payouts: [
        { outcome: 'yes', offer_payout_sat: 50_000_000 },
        { outcome: 'no', offer_payout_sat: 0 },
      ],
      offer_collateral_sat: 25_000_000,
      total_collateral_sat: 50_000_000,
      fee_rate_sat_vb: 1,
    };
    const changed = Buffer.from(oracle.ann);
    changed[changed.length - 1]! ^= 1;
    const bad = await alice.ch.call('dlc.offer', {
      announcement: hex(changed),
      ...terms,
      utxos: [await coinbase(aliceBlock!)],
    });
    assert.equal(bad.error?.code, -32602);
    assert.match(bad.error!.message, /announcement signature is not the oracle's/);

    // A coin funds one open contract: a second offer with it is refused, until the first is cancelled.
    const coin = await coinbase(aliceBlock!);
    // 16 offers with the same coin at once over the socket: exactly one is made, every other names it.
    const tries = await Promise.all(Array.from({ length: 16 }, () => alice.ch.call('dlc.offer', { announcement: hex(oracle.ann), ...terms, utxos: [coin] })));
    const made = tries.filter((r) => r.result).map((r) => r.result as { id: string });
    assert.equal(made.length, 1, JSON.stringify(tries.find((r) => r.error && r.error.code !== -32014)?.error));
    const first = made[0]!;
    for (const r of tries.filter((x) => x.error)) {
      assert.equal(r.error!.code, -32014);
      assert.match(r.error!.message, new RegExp(`funds contract ${first.id} already`));
    }
    assert.deepEqual(await call(alice.ch, 'dlc.cancel', { id: first.id }), { id: first.id, state: 'cancelled' });
    const offered = await call<{ id: string; offer: string }>(alice.ch, 'dlc.offer', {
      announcement: hex(oracle.ann),
      ...terms,
      utxos: [coin],
      cet_locktime: 100,
      refund_locktime: height + 4,
    });
    const accepted = await call<{ accept: string }>(bob.ch, 'dlc.accept', { offer: offered.offer, utxos: [await coinbase(bobBlock!)] });
    const nobody = await bob.ch.call('dlc.finalize', {
      sign: (await call<{ sign: string }>(alice.ch, 'dlc.sign', { accept: accepted.accept })).sign.replace(/^(a71e00000001)../, '$1ff'),
    });
    assert.equal(nobody.error?.code, -32011, 'a sign_dlc for no contract of ours');
    const sign = (await call<{ sign: string }>(alice.ch, 'dlc.get', { id: offered.id })) as unknown as { sign: string };
    // Bob's anyad is killed and started again: the accepted contract is where it was.
    bob.ch.close();
    await bob.d.kill('SIGKILL');
    bob = { ...(await start('bob', false)), address: bob.address };
    assert.equal((await state(bob, offered.id)).state, 'accepted');
    await call(bob.ch, 'dlc.finalize', { sign: sign.sign });
    await node.mine(1, bob.address);
    await waitState(alice, offered.id, 'confirmed');
    await node.mine(4, bob.address); // past refund_locktime: both anyads send the refund; one of them is first
    const refundTxid = await until(
      'an anyad to send the refund',
      async () => {
        for (const p of [alice, bob]) {
          const st = await state(p, offered.id);
          if (st.state === 'refunding') return st.closing_txid!;
        }
        return undefined;
      },
      800,
    );
    await until('the refund in the node mempool', async () => ((await node.rpc<string[]>('getrawmempool')).includes(refundTxid) ? true : undefined), 800);
    await node.mine(1, bob.address);
    await waitState(alice, offered.id, 'refunded');
    await waitState(bob, offered.id, 'refunded');
    const refund = bitcoin.Transaction.fromHex(await node.rpc<string>('getrawtransaction', (await state(alice, offered.id)).closing_txid!, false));
    assert.deepEqual(refund.outs.map((o) => o.value).sort(), [25_000_000n, 25_000_000n]);
    // The refund signature the room made by itself names it, not an RPC caller (issue 35): "anyad dlc (dlc.autorefund)";
    // the refund signatures of the negotiation name the dlc.* call that made them.
    const refundCallers: string[] = [];
    for (const p of [alice, bob])
      for (const e of await call<Array<{ detail: Record<string, unknown> }>>(p.ch, 'hsm.audit', { from: 1, limit: 1000 }))
        if (e.detail.contract === offered.id && e.detail.purpose === 'refund') refundCallers.push(String(e.detail.caller));
    assert.ok(refundCallers.includes('anyad dlc (dlc.autorefund)'), refundCallers.join(', '));
    for (const c of refundCallers) assert.match(c, /^unix#\d+ dlc\.(sign|accept)$|^anyad dlc \(dlc\.autorefund\)$/);
  });

  it("a mutual close (node-dlc's close_dlc): Alice proposes the split, Bob takes it only at the payout he expects; 8 takes at once make one", async () => {
    const [bobBlock] = await node.mine(1, bob.address);
    const [aliceBlock] = await node.mine(101, alice.address);
    const oracle = makeOracle(enumDescriptor(['up', 'down']), 1, 'close-early', 'tagged', 1_600_000_000);
    const offered = await call<{ id: string; offer: string }>(alice.ch, 'dlc.offer', {
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
    const early = await alice.ch.call('dlc.proposeclose', { id: offered.id, payout_sat: 1 });
    assert.equal(early.error?.code, -32014);
    await fund(offered, bobBlock!);

    const proposal = await call<{ close: string; txid: string; offer_payout_sat: number; accept_payout_sat: number }>(alice.ch, 'dlc.proposeclose', {
      id: offered.id,
      payout_sat: 45_000_000,
    });
    assert.deepEqual([proposal.offer_payout_sat, proposal.accept_payout_sat], [45_000_000, 15_000_000]);
    assert.equal(proposal.close.slice(0, 4), 'cbca', 'close_dlc_v0 type 52170');
    // Refusals: a payout other than Bob expects, a changed signature, another contract, a cut message, more than the total.
    const greedy = await bob.ch.call('dlc.acceptclose', { close: proposal.close, payout_sat: 20_000_000 });
    assert.equal(greedy.error?.code, -32602);
    assert.match(greedy.error!.message, /pays this party 15000000 sat, not the payout_sat 20000000/);
    const msg = Buffer.from(proposal.close, 'hex');
    const badSig = Buffer.from(msg);
    badSig[2 + 32 + 10]! ^= 1;
    const forged = await bob.ch.call('dlc.acceptclose', { close: hex(badSig), payout_sat: 15_000_000 });
    assert.equal(forged.error?.code, -32602);
    assert.match(forged.error!.message, /close_signature does not verify/);
    const otherId = Buffer.from(msg);
    otherId[2]! ^= 1;
    const stranger = await bob.ch.call('dlc.acceptclose', { close: hex(otherId), payout_sat: 15_000_000 });
    assert.equal(stranger.error?.code, -32011);
    const cut = await bob.ch.call('dlc.acceptclose', { close: hex(msg.subarray(0, 60)), payout_sat: 15_000_000 });
    assert.equal(cut.error?.code, -32602);
    assert.match(cut.error!.message, /^close_dlc: /);
    const tooMuch = await alice.ch.call('dlc.proposeclose', { id: offered.id, payout_sat: 60_000_001 });
    assert.equal(tooMuch.error?.code, -32602);

    // Alice proposes again (8 times at once, the same split: one proposal kept); Bob takes the first one all the same,
    // and Alice's anyad still recognises it on chain.
    const again = await Promise.all(
      Array.from({ length: 8 }, () => call<{ txid: string }>(alice.ch, 'dlc.proposeclose', { id: offered.id, payout_sat: 40_000_000 })),
    );
    assert.equal(new Set(again.map((a) => a.txid)).size, 1);
    assert.notEqual(again[0]!.txid, proposal.txid);
    const takes = await Promise.all(Array.from({ length: 8 }, () => bob.ch.call('dlc.acceptclose', { close: proposal.close, payout_sat: 15_000_000 })));
    const took = takes.filter((r) => r.result).map((r) => r.result as { id: string; txid: string });
    assert.equal(took.length, 1, JSON.stringify(takes.find((r) => r.error && r.error.code !== -32014)?.error));
    assert.ok(takes.every((r) => r.result || r.error?.code === -32014));
    assert.equal(took[0]!.txid, proposal.txid, 'the transaction both built');
    await until('the mutual close in the node mempool', async () => ((await node.rpc<string[]>('getrawmempool')).includes(proposal.txid) ? true : undefined));
    await node.mine(1, bob.address);
    await waitState(bob, offered.id, 'closed');
    await waitState(alice, offered.id, 'closed');
    const aliceView = await state(alice, offered.id);
    assert.deepEqual([aliceView.outcome, aliceView.closing_txid], [null, proposal.txid]);

    // On chain: 0.45 BTC to Alice's payout key, 0.15 BTC to Bob's; the fee is the CET fee both put in.
    const tx = bitcoin.Transaction.fromHex(await node.rpc<string>('getrawtransaction', proposal.txid, false));
    const payoutAddress = async (p: Party): Promise<string> => {
      const c = await call<{ keys: { payout: string } }>(p.ch, 'dlc.get', { id: offered.id });
      return (await call<{ addresses: { p2wpkh: string } }>(p.ch, 'hsm.getpubkey', { key: c.keys.payout })).addresses.p2wpkh;
    };
    const paid = new Map(tx.outs.map((o) => [bitcoin.address.fromOutputScript(o.script, bitcoin.networks.regtest), o.value]));
    assert.equal(paid.get(await payoutAddress(alice)), 45_000_000n);
    assert.equal(paid.get(await payoutAddress(bob)), 15_000_000n);
    assert.equal(tx.outs.length, 2);
  });

  it('a contract on 2 of 3 oracles: two agreeing attestations complete the CET; one, two that disagree, or a stranger are refused', async () => {
    const [bobBlock] = await node.mine(1, bob.address);
    const [aliceBlock] = await node.mine(101, alice.address);
    const oracles = [0, 1, 2].map(() => makeOracle(enumDescriptor(['rain', 'sun']), 1, 'weather-2026-12-01', 'tagged', 1_600_000_000));
    const offered = await call<{ id: string; offer: string }>(alice.ch, 'dlc.offer', {
      announcements: oracles.map((o) => hex(o.ann)),
      threshold: 2,
      payouts: [
        { outcome: 'rain', offer_payout_sat: 40_000_000 },
        { outcome: 'sun', offer_payout_sat: 0 },
      ],
      offer_collateral_sat: 20_000_000,
      total_collateral_sat: 40_000_000,
      fee_rate_sat_vb: 2,
      utxos: [await coinbase(aliceBlock!)],
      refund_locktime: 2_000_000_000,
    });
    await fund(offered, bobBlock!);
    const id = offered.id;
    const att = (o: number, outcome: string): string => hex(oracles[o]!.attest([outcome]));
    const one = await alice.ch.call('dlc.close', { id, attestations: [att(0, 'rain')] });
    assert.equal(one.error?.code, -32602);
    assert.match(one.error!.message, /2 oracles must attest the same outcome; the attestations given agree at most 1/);
    const split = await alice.ch.call('dlc.close', { id, attestations: [att(0, 'rain'), att(1, 'sun')] });
    assert.match(split.error!.message, /agree at most 1/);
    const stranger = makeOracle(enumDescriptor(['rain', 'sun']), 1, 'weather-2026-12-01', 'tagged', 1_600_000_000);
    const foreign = await alice.ch.call('dlc.close', { id, attestations: [att(0, 'rain'), hex(stranger.attest(['rain']))] });
    assert.match(foreign.error!.message, /which this contract does not name/);
    const both = await alice.ch.call('dlc.close', { id, attestation: att(0, 'rain'), attestations: [att(2, 'rain')] });
    assert.match(both.error!.message, /not both/);
    // Bob closes with oracles 2 and 0 agreeing on "rain" (oracle 1 says "sun"): the CET pays Alice the whole 0.4 BTC.
    const closed = await call<{ outcome: string; txid: string }>(bob.ch, 'dlc.close', { id, attestations: [att(2, 'rain'), att(1, 'sun'), att(0, 'rain')] });
    assert.equal(closed.outcome, 'rain');
    await until('the CET in the node mempool', async () => ((await node.rpc<string[]>('getrawmempool')).includes(closed.txid) ? true : undefined));
    await node.mine(1, bob.address);
    await waitState(bob, id, 'closed');
    await waitState(alice, id, 'closed');
    assert.deepEqual([(await state(alice, id)).outcome, (await state(alice, id)).closing_txid], ['rain', closed.txid]);
    const cet = bitcoin.Transaction.fromHex(await node.rpc<string>('getrawtransaction', closed.txid, false));
    assert.deepEqual(
      cet.outs.map((o) => o.value),
      [40_000_000n],
    );
  });

  it('refuses an adaptor signature that does not verify, an offer for another chain, and collateral over the policy', async () => {
    const [bobBlock] = await node.mine(1, bob.address);
    const [aliceBlock] = await node.mine(101, alice.address);
    const aliceCoin = await coinbase(aliceBlock!);
    const oracle = makeOracle(enumDescriptor(['heads', 'tails']), 1, 'coin-toss', 'sha256', 1_600_000_000);
    const offer = async (): Promise<{ id: string; offer: string }> =>
      call(alice.ch, 'dlc.offer', {
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
    const wrongChain = await bob.ch.call('dlc.accept', { offer: otherChain, utxos: [await coinbase(bobBlock!)] });
    assert.equal(wrongChain.error?.code, -32602);
    assert.match(wrongChain.error!.message, /the offer is for another chain/);
    // an adaptor signature changed in Bob's accept: Alice's anyad refuses it, names the outcome, signs nothing
    const accepted = await call<{ accept: string }>(bob.ch, 'dlc.accept', { offer: offered.offer, utxos: [await coinbase(bobBlock!)] });
    const at = accepted.accept.length - 2 * (64 + 1 + 162) + 2 * 100; // inside the last adaptor signature's proof
    const tampered = accepted.accept.slice(0, at) + (accepted.accept[at] === '0' ? '1' : '0') + accepted.accept.slice(at + 1);
    const bad = await alice.ch.call('dlc.sign', { accept: tampered });
    assert.equal(bad.error?.code, -32602);
    assert.match(bad.error!.message, /adaptor signature for outcome "tails" does not verify/);
    assert.equal((await state(alice, offered.id)).state, 'offered');
    // collateral over the signing policy of the coin's key: the funding input is not signed, nothing moves
    const coinKey = (await call<Array<{ id: string; label: string }>>(alice.ch, 'hsm.listkeys')).find((k) => k.label === 'alice coins')!;
    await call(alice.ch, 'hsm.setpolicy', { subject: `key:${coinKey.id}`, policy: { max_amount_sat: 1_000_000 } });
    const denied = await alice.ch.call('dlc.sign', { accept: accepted.accept });
    assert.equal(denied.error?.code, -32013, JSON.stringify(denied.error));
    assert.equal((await state(alice, offered.id)).state, 'offered');
    await call(alice.ch, 'hsm.setpolicy', { subject: `key:${coinKey.id}`, policy: null });
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
