// The state channels room end to end, closes without the counterparty and its breaches: two anyad instances (Alice
// opens, Bob accepts) on one bcoin regtest node, set up by channels-setup.ts. A unilateral close swept after the
// delay; a breach (Bob's anyad restored from an old copy of its datadir broadcasts a revoked state) punished by Alice
// online — at once, from the mempool —, by Alice coming back from downtime inside the window, and by a third anyad
// holding Alice's justice blobs as a tower. The last test reads the HSM audit entries of that sweep and those
// penalties: the tests of this file run in order, on the same anyads. The wallet room is off here: everything is
// paid to the channel's payment key, as an anyad without a wallet does.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { until } from '../helpers/until.js';
import { appHash, call, CAPACITY, DELAY, twoAnyads, type AuditEntry, type Party, type Step } from './channels-setup.js';

describe('state channels: unilateral closes, breaches, penalties and their audit', () => {
  // The wallet room off: sweeps and penalties pay the payment key, as before the wallet (channels-payouts.test.ts has
  // them paying the wallet).
  const w = twoAnyads(['-nowallet.enable']);
  const { start, view, waitState, inMempool, paymentAddress, outputsOf, openChannel, update, justices } = w;

  it('a unilateral close: the commitment confirms, the to_local output is swept to the keystore after the delay', async () => {
    const id = await openChannel(20_000_000);
    const avail = CAPACITY - (await view(w.alice, id)).fee_sat;
    // Through l2.* as well: the same update as an l2.submit of protocol "statechannel", the channel by l2.status.
    const viaL2 = await call<{ detail: { result: { message: string } } }>(w.alice, 'l2.submit', {
      protocol: 'statechannel',
      operation: 'update',
      params: { id, to_opener_sat: avail - 30_000_000, to_accepter_sat: 30_000_000, app_hash: appHash(1) },
    });
    const ack = await call<Step>(w.bob, 'sc.receive', { message: viaL2.detail.result.message });
    const rev = await call<{ detail: { result: Step } }>(w.alice, 'l2.submit', {
      protocol: 'statechannel',
      operation: 'receive',
      params: { message: ack.message },
    });
    await call(w.bob, 'sc.receive', { message: rev.detail.result.message });
    const st = await call<{ status: string; detail: { number: number; to_accepter_sat: number } }>(w.bob, 'l2.status', { protocol: 'statechannel', id });
    assert.deepEqual([st.status, st.detail.number, st.detail.to_accepter_sat], ['open', 1, 30_000_000]);
    const forced = await call<{ txid: string; number: number }>(w.bob, 'sc.forceclose', { id });
    assert.equal(forced.number, 1);
    await inMempool(forced.txid);
    await w.node.mine(1, w.alice.address);
    // Alice's balance is in the commitment's to_remote, hers at once.
    await waitState(w.alice, id, 'closed');
    assert.equal((await view(w.alice, id)).closed_by, 'remote_unilateral');
    await w.node.mine(DELAY - 2, w.alice.address);
    assert.equal((await view(w.bob, id)).state, 'force_closing', 'nothing is swept before the delay');
    await w.node.mine(1, w.alice.address);
    const sweep = await w.confirmClaim(w.bob, id);
    const outs = await outputsOf(sweep);
    assert.equal(outs.length, 1);
    assert.equal(outs[0]!.address, await paymentAddress(w.bob, (await view(w.bob, id)).keys.payment));
    assert.ok(outs[0]!.value > 30_000_000 - 1000 && outs[0]!.value < 30_000_000);
  });

  /** A channel where Bob's anyad is put back to an old copy of its datadir, made at state 1 (Bob had 40M then, 10M now). */
  const breachSetup = async (beforeBreach?: () => Promise<void>): Promise<{ id: string; revokedTxid: string; avail: number }> => {
    const id = await openChannel();
    const avail = CAPACITY - (await view(w.alice, id)).fee_sat;
    await update(id, w.alice, w.bob, avail - 40_000_000, 40_000_000, appHash(1));
    await w.keepOldBob();
    await update(id, w.bob, w.alice, avail - 20_000_000, 20_000_000, appHash(2));
    await update(id, w.alice, w.bob, avail - 10_000_000, 10_000_000, appHash(3));
    await w.restoreOldBob();
    assert.equal((await view(w.bob, id)).number, 1, "Bob's anyad believes state 1 is the latest");
    await beforeBreach?.();
    const forced = await call<{ txid: string; number: number }>(w.bob, 'sc.forceclose', { id });
    return { id, revokedTxid: forced.txid, avail };
  };
  /** The penalty and the revoked commitment's to_remote pay Alice every satoshi but the fees. */
  const assertPunished = async (id: string, revokedTxid: string, avail: number): Promise<void> => {
    const v = await view(w.alice, id);
    assert.deepEqual([v.state, v.closed_by], ['closed', 'penalty']);
    const aliceTo = await paymentAddress(w.alice, v.keys.payment);
    const commitment = await outputsOf(revokedTxid);
    const toRemote = commitment.find((o) => o.address === aliceTo)!;
    assert.equal(toRemote.value, avail - 40_000_000, "state 1's to_remote: Alice's balance then");
    // The penalty that confirmed (a bumped one may have been sent after it).
    const penaltyTxid = await until('the confirmed penalty', async () => {
      for (const txid of w.alice.d.logs.filter((l) => l.msg === 'channel penalty broadcast' && l.id === id).map((l) => l.txid as string)) {
        const t = await w.node.rpc<{ confirmations?: number }>('getrawtransaction', txid, true).catch(() => undefined);
        if ((t?.confirmations ?? 0) >= 1) return txid;
      }
      return undefined;
    });
    const penalty = await outputsOf(penaltyTxid);
    assert.equal(penalty.length, 1);
    assert.equal(penalty[0]!.address, aliceTo);
    assert.ok(penalty[0]!.value > 40_000_000 - 5_000, `the penalty takes Bob's 40M less its fee (${penalty[0]!.value})`);
  };
  /** The penalty Alice's anyad logged as broadcast. */
  const lastPenalty = async (id: string): Promise<string | undefined> =>
    w.alice.d.logs
      .filter((l) => l.msg === 'channel penalty broadcast' && l.id === id)
      .map((l) => l.txid as string)
      .at(-1);

  it('a breach: a revoked state broadcast by the counterparty is punished at once from the mempool, all funds to the victim', async () => {
    const { id, revokedTxid, avail } = await breachSetup();
    // Alice's anyad sees the revoked commitment in the mempool and sends the penalty before any block.
    await inMempool(revokedTxid);
    const penalty = await until('the penalty in the mempool', async () => {
      const txid = await lastPenalty(id);
      return txid && (await w.node.rpc<string[]>('getrawmempool')).includes(txid) ? txid : undefined;
    });
    assert.equal((await view(w.alice, id)).state, 'penalizing');
    await w.node.mine(1, w.alice.address);
    await waitState(w.alice, id, 'closed');
    assert.ok((await outputsOf(penalty)).length === 1);
    await assertPunished(id, revokedTxid, avail);
  });

  it('a breach while the victim is down is punished when it comes back inside the window', async () => {
    const { id, revokedTxid, avail } = await breachSetup(async () => {
      w.alice.ch.close();
      await w.alice.d.kill();
    });
    await inMempool(revokedTxid);
    await w.node.mine(3, w.bob.address);
    w.alice = await start('alice', w.alice);
    // (Up to 30 s: the restart catches up the blocks it missed before it sees the breach, slower on a loaded machine.)
    const penalty = await until(
      'the penalty after the restart',
      async () => {
        const txid = await lastPenalty(id);
        return txid && (await w.node.rpc<string[]>('getrawmempool')).includes(txid) ? txid : undefined;
      },
      1200,
    );
    // Catching up, anyad connects the 3 blocks it missed one by one, and looks at the channel at each: they were all
    // mined before the penalty was sent, so none raises its fee. One version is sent, whatever the timing.
    await until('Alice caught up', async () => (await call<{ catching_up: boolean }>(w.alice, 'chain.getinfo', {})).catching_up === false || undefined);
    await w.node.mine(1, w.bob.address);
    await waitState(w.alice, id, 'closed');
    const sent = w.alice.d.logs.filter((l) => /^channel penalty (broadcast|refused)/.test(l.msg as string) && l.id === id).map((l) => l.txid as string);
    assert.deepEqual(sent, [penalty], 'the penalty sent once after the restart, never bumped for the blocks mined while anyad was down');
    await assertPunished(id, revokedTxid, avail);
  });

  it('a breach while the victim stays offline is punished by a third anyad holding its justice blobs as a tower', async () => {
    w.alice.ch.close();
    await w.alice.d.kill();
    w.alice = await start('alice', w.alice, ['-sc.justice']);
    const carol = await start('carol');
    try {
      justices.length = 0;
      const { id, revokedTxid, avail } = await breachSetup(async () => {
        // Every revoked state of Bob's gave Alice's anyad a blob; her app handed them to Carol's, then Alice left.
        assert.ok(justices.length >= 2, `blobs for Bob's revoked states 0..2 (${justices.length})`);
        // All at once, each twice over Carol's socket: every blob held once.
        const held = await Promise.all([...justices, ...justices].map((j) => call<{ watched: number }>(carol, 'sc.towerwatch', j)));
        assert.equal(Math.max(...held.map((h) => h.watched)), new Set(justices.map((j) => j.hint)).size);
        w.alice.ch.close();
        await w.alice.d.kill();
      });
      assert.ok(
        justices.some((j) => revokedTxid.startsWith(j.hint)),
        'a blob names the revoked commitment',
      );
      await call(carol, 'subscribe', { topics: ['sc.tower'] });
      await inMempool(revokedTxid);
      await w.node.mine(1, w.bob.address);
      const ev = (await until('the tower event', async () => {
        const n = (await carol.ch.next(10_000)) as { params?: { topic: string; data: { breach_txid: string; penalty_txid: string } } };
        return n.params?.topic === 'sc.tower' ? n.params.data : undefined;
      })) as { breach_txid: string; penalty_txid: string };
      assert.equal(ev.breach_txid, revokedTxid);
      await inMempool(ev.penalty_txid);
      await w.node.mine(1, w.bob.address);
      // Alice comes back: her channel is closed by the penalty the tower sent, every satoshi hers but the fees.
      w.alice = await start('alice', w.alice);
      const v = await view(w.alice, id);
      const aliceTo = await paymentAddress(w.alice, v.keys.payment);
      const penalty = await outputsOf(ev.penalty_txid);
      assert.deepEqual(
        penalty.map((o) => o.address),
        [aliceTo],
      );
      assert.ok(penalty[0]!.value > 40_000_000 - 5_000);
      assert.equal((await outputsOf(revokedTxid)).find((o) => o.address === aliceTo)?.value, avail - 40_000_000);
      await w.node.mine(1, w.bob.address);
      await waitState(w.alice, id, 'closed');
      assert.equal((await view(w.alice, id)).closed_by, 'penalty');
    } finally {
      carol.ch.close();
      await carol.d.kill();
    }
  });

  /** Every entry of a party's HSM audit log, oldest first (hsm.audit answers 1,000 at a time). */
  const auditOf = async (p: Party): Promise<AuditEntry[]> => {
    const out: AuditEntry[] = [];
    for (let from = 1; ;) {
      const page = await call<AuditEntry[]>(p, 'hsm.audit', { from, limit: 1000 });
      out.push(...page);
      if (page.length < 1000) return out;
      from = page.at(-1)!.seq + 1;
    }
  };
  const fundingKeyOf = async (p: Party, id: string): Promise<string> =>
    (await call<{ public_key: string }>(p, 'hsm.getpubkey', { key: (await call<{ keys: { funding: string } }>(p, 'sc.get', { id })).keys.funding })).public_key;

  it('the HSM audit names who caused each channel signature: the RPC connection and method, or anyad itself for a sweep or a penalty (issue 35)', async () => {
    // (The regtest coinbase has halved by now: a channel smaller than the others.)
    const id = await openChannel(0, 20_000_000);
    const avail = 20_000_000 - (await view(w.alice, id)).fee_sat;
    await update(id, w.alice, w.bob, avail - 5_000_000, 5_000_000, appHash(1));
    await update(id, w.bob, w.alice, avail - 4_000_000, 4_000_000, appHash(2));
    const [aliceLog, bobLog] = await Promise.all([auditOf(w.alice), auditOf(w.bob)]);
    for (const [p, log, them, methods] of [
      [w.alice, aliceLog, await fundingKeyOf(w.bob, id), ['sc.open', 'sc.receive', 'sc.update']],
      [w.bob, bobLog, await fundingKeyOf(w.alice, id), ['sc.accept', 'sc.receive', 'sc.update']],
    ] as const) {
      const mine = log.filter((e) => e.event === 'sign' && e.detail.contract === id);
      assert.ok(mine.length >= 8, `${p.name}: the channel's signatures are audited (${mine.length})`);
      for (const e of mine) {
        assert.match(String(e.detail.caller), /^unix#\d+ sc\./, `${p.name}: ${e.detail.purpose as string} signed for an RPC call`);
        assert.equal(e.detail.kind, 'channel');
        // The open message is signed before the accept names the counterparty; every signature after names it.
        if (e.detail.purpose !== 'message.open') assert.equal(e.detail.counterparty, them, `${p.name}: ${e.detail.purpose as string} names the counterparty`);
      }
      assert.deepEqual([...new Set(mine.map((e) => String(e.detail.caller).split(' ')[1]))].sort(), [...methods].sort(), `${p.name}: the methods that signed`);
      assert.ok(
        mine.some((e) => e.detail.purpose === 'commitment' && / sc\.update$/.test(String(e.detail.caller))),
        `${p.name}: its update's commitment signature names sc.update`,
      );
      // No signature of either anyad names the bare room any more.
      assert.deepEqual(
        log.filter((e) => e.detail.caller === 'sc'),
        [],
        `${p.name}: no signature names the constant 'sc'`,
      );
    }
    // The room's own work: Bob's sweep (the unilateral close above) and Alice's penalties (the breaches above) are
    // signed for the block or transaction that showed the commitment, not for an RPC call.
    const sweeps = bobLog.filter((e) => e.event === 'sign' && e.detail.purpose === 'sweep');
    assert.ok(sweeps.length >= 1, 'the sweep is audited');
    for (const e of sweeps) assert.match(String(e.detail.caller), /^anyad sc \(chain\.(block|tx)\)$/);
    const penalties = aliceLog.filter((e) => e.event === 'sign' && e.detail.purpose === 'penalty');
    assert.ok(
      penalties.some((e) => /^anyad sc \(chain\.(block|tx)\)$/.test(String(e.detail.caller))),
      `a penalty signed by anyad itself (${[...new Set(penalties.map((e) => e.detail.caller))].join(', ')})`,
    );
    // The justice blobs (-sc.justice) are signed ahead, while an RPC call takes a revocation: they name that call.
    for (const e of penalties.filter((x) => !String(x.detail.caller).startsWith('anyad '))) assert.match(String(e.detail.caller), /^unix#\d+ sc\.receive$/);
  });
});
