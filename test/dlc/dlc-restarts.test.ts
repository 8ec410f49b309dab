// The DLC room end to end, the work the anyads do by themselves and across restarts: two anyad instances (Alice
// offers, Bob accepts) on one bcoin regtest node, set up by dlc-setup.ts. With dlc.oracle, the announcement fetched
// from an oracle's HTTP API (test/peers/p2pd-oracle.ts) and the contract closed by the anyads once it attests, Alice's
// anyad killed in between; a contract whose refund locktime passes refunded by the anyads (dlc.autorefund), Bob's
// anyad killed between accept and finalize. Refusals: a changed announcement, a second offer with a coin, a sign for
// no contract.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as bitcoin from 'bitcoinjs-lib';
import { until } from '../helpers/until.js';
import { enumDescriptor, makeOracle } from '../peers/dlc-oracle.js';
import { startP2pdOracle } from '../peers/p2pd-oracle.js';
import { call, hex, twoAnyads } from './dlc-setup.js';

describe('DLC: restarts, an oracle over HTTP, a refund', () => {
  const w = twoAnyads();
  const { start, coinbase, state, waitState, fund } = w;

  it("with dlc.oracle: the announcement fetched from the oracle's HTTP API, the contract closed by the anyads once it attests", async () => {
    const oracle = await startP2pdOracle(['up', 'down'], Math.floor(Date.now() / 1000) - 60);
    try {
      for (const name of ['alice', 'bob'] as const) {
        const p = name === 'alice' ? w.alice : w.bob;
        p.ch.close();
        await p.d.kill();
        const restarted = { ...(await start(name, false, [`-dlc.oracle=${oracle.url}`])), address: p.address };
        if (name === 'alice') w.alice = restarted;
        else w.bob = restarted;
      }
      const [bobBlock] = await w.node.mine(1, w.bob.address);
      const [aliceBlock] = await w.node.mine(101, w.alice.address);
      const fetched = await call<{ announcement: string; oracle: string }>(w.alice.ch, 'dlc.fetchannouncement', { event_id: oracle.eventId });
      assert.equal(fetched.oracle, oracle.url);
      const missing = await w.alice.ch.call('dlc.fetchannouncement', { event_id: 'btcusd1000000000' });
      assert.equal(missing.error?.code, -32011);
      const offered = await call<{ id: string; offer: string }>(w.alice.ch, 'dlc.offer', {
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
      await w.node.mine(1, w.bob.address);
      await until('the anyads to ask the oracle', async () => (oracle.seen.filter((x) => x.includes('/attestation/')).length >= 2 ? true : undefined));
      assert.equal((await state(w.alice, offered.id)).state, 'confirmed');
      // Alice's anyad is killed before the attestation and started again after it: it resumes and closes.
      w.alice.ch.close();
      await w.alice.d.kill('SIGKILL');
      oracle.attest('up');
      w.alice = { ...(await start('alice', false, [`-dlc.oracle=${oracle.url}`])), address: w.alice.address };
      // At each block the anyads fetch the attestation and send the CET (a failed try is retried at the next block,
      // as dlc.autoclose says): within a few blocks one of them has.
      let sent = false;
      for (let block = 0; block < 5 && !sent; block++) {
        await w.node.mine(1, w.bob.address);
        sent = await until(
          'the CET sent',
          async () => ((await w.node.rpc<string[]>('getrawmempool')).length > 0 || (await state(w.bob, offered.id)).state === 'closed' ? true : undefined),
          400,
        ).catch(() => false);
      }
      if (!sent) {
        // What each anyad knows and said about the contract, to tell a stuck follower from a refused transaction.
        const views = await Promise.all(
          [w.alice, w.bob].map((p) =>
            state(p, offered.id).then(
              (v) => v.state,
              (e: Error) => e.message,
            ),
          ),
        );
        const said = [...w.alice.d.logs, ...w.bob.d.logs].filter((l) => /DLC/.test(String(l.msg))).slice(-10);
        assert.fail(`no CET after 5 blocks; states ${JSON.stringify(views)}; ${JSON.stringify(said)}`);
      }
      await w.node.mine(1, w.bob.address);
      await w.node.mine(1, w.bob.address);
      await waitState(w.alice, offered.id, 'closed');
      await waitState(w.bob, offered.id, 'closed');
      assert.equal((await state(w.bob, offered.id)).outcome, 'up');
      // The CET signature made by the room itself names it (issue 35): "anyad dlc (dlc.autoclose)".
      const cetCallers: string[] = [];
      for (const p of [w.alice, w.bob])
        for (const e of await call<Array<{ detail: Record<string, unknown> }>>(p.ch, 'hsm.audit', { from: 1, limit: 1000 }))
          if (e.detail.contract === offered.id && e.detail.purpose === 'cet') cetCallers.push(String(e.detail.caller));
      assert.ok(cetCallers.includes('anyad dlc (dlc.autoclose)'), cetCallers.join(', '));
    } finally {
      await oracle.close();
    }
  });

  it('a contract past its refund locktime is refunded by the anyads themselves; bad messages are refused', async () => {
    const [bobBlock] = await w.node.mine(1, w.bob.address);
    const [aliceBlock] = await w.node.mine(101, w.alice.address);
    const oracle = makeOracle(enumDescriptor(['yes', 'no']), 1, 'refund-me', 'sha256', 1_600_000_000);
    const height = (await w.node.rpc<{ blocks: number }>('getblockchaininfo')).blocks;
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
    const bad = await w.alice.ch.call('dlc.offer', {
      announcement: hex(changed),
      ...terms,
      utxos: [await coinbase(aliceBlock!)],
    });
    assert.equal(bad.error?.code, -32602);
    assert.match(bad.error!.message, /announcement signature is not the oracle's/);

    // A coin funds one open contract: a second offer with it is refused, until the first is cancelled.
    const coin = await coinbase(aliceBlock!);
    // 16 offers with the same coin at once over the socket: exactly one is made, every other names it.
    const tries = await Promise.all(Array.from({ length: 16 }, () => w.alice.ch.call('dlc.offer', { announcement: hex(oracle.ann), ...terms, utxos: [coin] })));
    const made = tries.filter((r) => r.result).map((r) => r.result as { id: string });
    assert.equal(made.length, 1, JSON.stringify(tries.find((r) => r.error && r.error.code !== -32014)?.error));
    const first = made[0]!;
    for (const r of tries.filter((x) => x.error)) {
      assert.equal(r.error!.code, -32014);
      assert.match(r.error!.message, new RegExp(`funds contract ${first.id} already`));
    }
    assert.deepEqual(await call(w.alice.ch, 'dlc.cancel', { id: first.id }), { id: first.id, state: 'cancelled' });
    const offered = await call<{ id: string; offer: string }>(w.alice.ch, 'dlc.offer', {
      announcement: hex(oracle.ann),
      ...terms,
      utxos: [coin],
      cet_locktime: 100,
      refund_locktime: height + 4,
    });
    const accepted = await call<{ accept: string }>(w.bob.ch, 'dlc.accept', { offer: offered.offer, utxos: [await coinbase(bobBlock!)] });
    const nobody = await w.bob.ch.call('dlc.finalize', {
      sign: (await call<{ sign: string }>(w.alice.ch, 'dlc.sign', { accept: accepted.accept })).sign.replace(/^(a71e00000001)../, '$1ff'),
    });
    assert.equal(nobody.error?.code, -32011, 'a sign_dlc for no contract of ours');
    const sign = (await call<{ sign: string }>(w.alice.ch, 'dlc.get', { id: offered.id })) as unknown as { sign: string };
    // Bob's anyad is killed and started again: the accepted contract is where it was.
    w.bob.ch.close();
    await w.bob.d.kill('SIGKILL');
    w.bob = { ...(await start('bob', false)), address: w.bob.address };
    assert.equal((await state(w.bob, offered.id)).state, 'accepted');
    await call(w.bob.ch, 'dlc.finalize', { sign: sign.sign });
    await w.node.mine(1, w.bob.address);
    await waitState(w.alice, offered.id, 'confirmed');
    await w.node.mine(4, w.bob.address); // past refund_locktime: both anyads send the refund; one of them is first
    const refundTxid = await until(
      'an anyad to send the refund',
      async () => {
        for (const p of [w.alice, w.bob]) {
          const st = await state(p, offered.id);
          if (st.state === 'refunding') return st.closing_txid!;
        }
        return undefined;
      },
      800,
    );
    await until('the refund in the node mempool', async () => ((await w.node.rpc<string[]>('getrawmempool')).includes(refundTxid) ? true : undefined), 800);
    await w.node.mine(1, w.bob.address);
    await waitState(w.alice, offered.id, 'refunded');
    await waitState(w.bob, offered.id, 'refunded');
    const refund = bitcoin.Transaction.fromHex(await w.node.rpc<string>('getrawtransaction', (await state(w.alice, offered.id)).closing_txid!, false));
    assert.deepEqual(refund.outs.map((o) => o.value).sort(), [25_000_000n, 25_000_000n]);
    // The refund signature the room made by itself names it, not an RPC caller (issue 35): "anyad dlc (dlc.autorefund)";
    // the refund signatures of the negotiation name the dlc.* call that made them.
    const refundCallers: string[] = [];
    for (const p of [w.alice, w.bob])
      for (const e of await call<Array<{ detail: Record<string, unknown> }>>(p.ch, 'hsm.audit', { from: 1, limit: 1000 }))
        if (e.detail.contract === offered.id && e.detail.purpose === 'refund') refundCallers.push(String(e.detail.caller));
    assert.ok(refundCallers.includes('anyad dlc (dlc.autorefund)'), refundCallers.join(', '));
    for (const c of refundCallers) assert.match(c, /^unix#\d+ dlc\.(sign|accept)$|^anyad dlc \(dlc\.autorefund\)$/);
  });
});
