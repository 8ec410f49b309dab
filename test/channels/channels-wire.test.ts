// State channels over the peer network (issue 28 item 3), end to end: two anyads on one bcoin regtest node,
// connected by peer.connect, and the test carries no message (no sc.receive anywhere). A channel opened with peer=,
// offered to Bob (sc.offered) and accepted by id, funded by itself; 1,000 sc.update calls, each side proposing in
// turn, the counterparty taking each by itself; a cooperative close over the wire with exact balances on chain.
// Refusals: a message from a peer that is not the channel's counterparty (a raw BOLT 8 peer of the test's own),
// an update over sc.autopaymaxsat kept until sc.approve, the RPC's own refusals, and the wire features with the p2p
// room off. Restarts and kills are in channels-wire-restarts.test.ts.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { envelope, rawPeer } from '../p2p/raw-peer.js';
import { appHash, call, CAPACITY, refuses, type Step } from './channels-setup.js';
import { wireAnyads } from './wire-setup.js';
import { until } from '../helpers/until.js';

const EPOCH = Buffer.from('0102030405060708', 'hex');

describe('state channels over the peer network: two anyads, no message carried', () => {
  const w = wireAnyads();

  it('open with peer=, accepted by id, 1,000 updates over the wire, cooperative close: balances exact on both sides and on chain', async () => {
    const id = await w.offerAndAccept();
    await w.fundedAndOpen(id);
    const [a0, b0] = await Promise.all([w.view(w.alice, id), w.view(w.bob, id)]);
    assert.deepEqual([(a0 as unknown as { peer: string }).peer, (b0 as unknown as { peer: string }).peer], [w.bobPk, w.alicePk]);
    const avail = CAPACITY - a0.fee_sat;
    let toAccepter = 0;
    const t0 = Date.now();
    for (let i = 1; i <= 1000; i++) {
      // Each side proposes in turn: Alice pays Bob 20,000, Bob pays Alice 10,000 (a payment out of one's own
      // balance needs no consent of the other).
      const from = i % 2 === 1 ? w.alice : w.bob;
      toAccepter += i % 2 === 1 ? 20_000 : -10_000;
      const u = await call<{ number: number }>(from, 'sc.update', { id, to_opener_sat: avail - toAccepter, to_accepter_sat: toAccepter, app_hash: appHash(i) });
      assert.equal(u.number, i);
      // Final on both sides: the proposer's with the ack, the other's with the revoke, both taken by themselves.
      await Promise.all([w.ev.alice.number(id, i), w.ev.bob.number(id, i)]);
    }
    const secs = (Date.now() - t0) / 1000;
    const [a, b] = await Promise.all([w.view(w.alice, id), w.view(w.bob, id)]);
    assert.equal(toAccepter, 5_000_000);
    for (const v of [a, b])
      assert.deepEqual(
        [v.number, v.to_opener_sat, v.to_accepter_sat, v.state, (v as unknown as { pending: null }).pending],
        [1000, avail - 5_000_000, 5_000_000, 'open', null],
      );
    // Every state final on both sides once, in order.
    for (const ev of [w.ev.alice, w.ev.bob]) {
      const numbers = ev.seen
        .filter((e) => e.topic === 'sc.channel' && e.data.id === id && e.data.state === 'open' && e.data.previous === 'open')
        .map((e) => e.data.number);
      assert.deepEqual(
        numbers,
        Array.from({ length: 1000 }, (_, i) => i + 1),
      );
    }

    // Cooperative close: Alice's close goes to Bob, whose anyad signs and broadcasts it.
    await call(w.alice, 'sc.close', { id });
    const txid = (await w.view(w.alice, id)).closing_txid!;
    await w.inMempool(txid);
    await w.node.mine(1, w.bob.address);
    await w.waitState(w.alice, id, 'closed');
    await w.waitState(w.bob, id, 'closed');
    assert.equal((await w.view(w.bob, id)).closed_by, 'cooperative');
    const outs = (await w.outputsOf(txid)).filter((o) => o.address).sort((x, y) => x.value - y.value);
    assert.deepEqual(outs, [
      { address: b.payout.close, value: 5_000_000 },
      { address: a.payout.close, value: avail - 5_000_000 },
    ]);
    assert.deepEqual([...w.ev.alice.refused(), ...w.ev.bob.refused()], []);
    // Nothing waits in either outbox: every message was taken and acknowledged.
    for (const [p, other] of [
      [w.alice, w.bobPk],
      [w.bob, w.alicePk],
    ] as const)
      await until('the outbox empty', async () =>
        (await call<Array<{ pubkey: string; outbox_messages: number }>>(p, 'peer.list')).find((x) => x.pubkey === other)?.outbox_messages === 0
          ? true
          : undefined,
      );
    console.log(`# 1,000 updates over the peer network in ${secs.toFixed(1)} s`);
  });

  it('refuses: a message from another peer, an update over the allowance until approved, the wire features misused', async () => {
    const id = await w.offerAndAccept(10_000_000);
    await w.fundedAndOpen(id);
    const avail = CAPACITY - (await w.view(w.alice, id)).fee_sat;
    // One update Alice pays: its message (as sc.update answers it) is what the stranger sends again.
    const u1 = await call<{ message: string }>(w.alice, 'sc.update', { id, to_opener_sat: avail - 11_000_000, to_accepter_sat: 11_000_000 });
    await Promise.all([w.ev.alice.number(id, 1), w.ev.bob.number(id, 1)]);
    // Alice revoked state 0 to Bob, who has sc.justice: its penalty, for a tower, came as an event.
    const j = await w.ev.bob.wait('the penalty for a tower', (e) => e.topic === 'sc.justice' && e.data.id === id);
    assert.equal(j.data.number, 1);
    assert.match(j.data.hint as string, /^[0-9a-f]+$/);
    assert.ok((j.data.blob as string).length > 100);

    // A peer that is not the channel's counterparty sends a genuine message of the channel: refused, not processed.
    const m = await rawPeer(w.bobPk, w.bobPort);
    await m.t.send(53111, envelope(EPOCH, 1, 53209, Buffer.from(u1.message, 'hex')));
    const r = await w.ev.bob.wait('the refusal', (e) => e.topic === 'sc.refused' && e.data.peer === m.pubkey);
    assert.equal(r.data.channel, id);
    assert.equal(r.data.type, 'update');
    assert.match(r.data.reason as string, new RegExp(`counterparty is ${w.alicePk}, not this peer`));
    m.t.close('done');
    assert.equal((await w.view(w.bob, id)).number, 1);

    // Alice proposes a state taking 3,000,000 out of Bob's balance: over his sc.autopaymaxsat (0), kept unsigned.
    await call(w.alice, 'sc.update', { id, to_opener_sat: avail - 8_000_000, to_accepter_sat: 8_000_000 });
    const asked = await w.ev.bob.wait('the approval asked', (e) => e.topic === 'sc.approval' && e.data.id === id);
    assert.deepEqual([asked.data.number, asked.data.pays_sat, asked.data.peer], [2, 3_000_000, w.alicePk]);
    const inbox = await call<{ approvals: Array<{ id: string; pays_sat: number }> }>(w.bob, 'sc.inbox');
    assert.deepEqual(
      inbox.approvals.map((x) => [x.id, x.pays_sat]),
      [[id, 3_000_000]],
    );
    assert.deepEqual([(await w.view(w.bob, id)).number, (await w.view(w.alice, id)).number], [1, 1]);
    await refuses(w.bob, 'sc.update', { id, to_opener_sat: avail - 12_000_000, to_accepter_sat: 12_000_000 }, -32014, /waiting for sc.approve/);
    await refuses(w.bob, 'sc.approve', { id, max_pay_sat: 2_999_999 }, -32013, /pays it 3000000 sat/);
    const ok = await call<Step>(w.bob, 'sc.approve', { id, max_pay_sat: 3_000_000 });
    assert.equal(ok.number, 2);
    await Promise.all([w.ev.alice.number(id, 2), w.ev.bob.number(id, 2)]);
    assert.equal((await w.view(w.bob, id)).to_accepter_sat, 8_000_000);
    assert.deepEqual((await call<{ approvals: unknown[] }>(w.bob, 'sc.inbox')).approvals, []);
    await refuses(w.bob, 'sc.approve', { id, max_pay_sat: 1 }, -32011, /no update waiting for approval/);

    // An offer Bob does not want: sc.cancel declines it (nothing was made for it); it is gone from sc.inbox.
    const declined = await call<{ id: string }>(w.alice, 'sc.open', {
      capacity_sat: 1_000_000,
      fee_rate_sat_vb: 2,
      peer: w.bobPk,
      utxos: [await w.aliceCoin()],
    });
    await w.ev.bob.wait('the offer to decline', (e) => e.topic === 'sc.offered' && e.data.id === declined.id);
    assert.deepEqual(await call(w.bob, 'sc.cancel', { id: declined.id }), { id: declined.id, state: 'declined' });
    assert.deepEqual((await call<{ offers: unknown[] }>(w.bob, 'sc.inbox')).offers, []);
    await refuses(w.bob, 'sc.accept', { id: declined.id }, -32011, /no channel offer/);
    await call(w.alice, 'sc.cancel', { id: declined.id });

    // The RPC's refusals around the wire.
    await refuses(w.bob, 'sc.receive', { message: u1.message }, -32014, /runs over the peer network/);
    await refuses(w.bob, 'sc.accept', {}, -32602, /either message .* or id/);
    await refuses(w.bob, 'sc.accept', { id: 'ab'.repeat(32), message: u1.message }, -32602, /either message .* or id/);
    await refuses(w.bob, 'sc.accept', { id: 'ab'.repeat(32) }, -32011, /no channel offer/);
    await refuses(w.alice, 'sc.open', { capacity_sat: 1_000_000, peer: w.alicePk }, -32602, /own node key/);
    await refuses(w.alice, 'sc.open', { capacity_sat: 1_000_000, peer: 'zz' }, -32602, /peer/);
    assert.deepEqual(w.ev.alice.refused(), []);

    // The p2p room off: the wire features say so.
    const carol = await w.start('carol', undefined, ['-nop2p.enable']);
    try {
      await refuses(carol, 'sc.open', { capacity_sat: 1_000_000, peer: w.bobPk }, -32017, /p2p\.enable/);
      await refuses(carol, 'sc.accept', { id: id }, -32017, /p2p\.enable/);
    } finally {
      carol.ch.close();
      await carol.d.kill();
    }
  });
});
