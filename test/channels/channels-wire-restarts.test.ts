// State channels over the peer network across kill -9 (issue 28 item 3): each side SIGKILLed mid-protocol and
// started again, during the open (after the open is queued, after the accept, while the funding messages travel)
// and during updates (at varying moments of the update → ack → revoke round trip). Each time the protocol completes
// once: both sides reach the same state number and balances with nothing in flight, no message is refused (a step
// taken twice would be refused as a replay and logged), and every outbox empties.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { call, CAPACITY } from './channels-setup.js';
import { refusedInLogs, wireAnyads, type WireAnyads } from './wire-setup.js';
import { until } from '../helpers/until.js';

async function settled(w: WireAnyads, id: string, n: number): Promise<void> {
  for (const p of [w.alice, w.bob])
    await until(
      `${p.name} at state ${n} with nothing in flight`,
      async () => {
        const v = (await w.view(p, id)) as unknown as { number: number; pending: number | null };
        return v.number === n && v.pending === null ? true : undefined;
      },
      2400,
    );
}

async function outboxesEmpty(w: WireAnyads): Promise<void> {
  for (const [p, other] of [
    [w.alice, w.bobPk],
    [w.bob, w.alicePk],
  ] as const)
    await until(
      `${p.name}'s outbox empty`,
      async () =>
        (await call<Array<{ pubkey: string; outbox_messages: number }>>(p, 'peer.list')).find((x) => x.pubkey === other)?.outbox_messages === 0
          ? true
          : undefined,
      1200,
    );
}

describe('state channels over the peer network: kill -9 mid-protocol', () => {
  const w = wireAnyads();

  it('killed during the open: the open queued, the accept queued, the funding messages in flight; the channel opens once', async () => {
    const coin = await w.aliceCoin();
    const o = await call<{ id: string }>(w.alice, 'sc.open', { capacity_sat: CAPACITY, to_self_delay: 6, fee_rate_sat_vb: 2, utxos: [coin], peer: w.bobPk });
    // Alice killed as soon as the open is durable (sent or not): it goes after her restart.
    await w.restart('alice');
    await w.ev.bob.wait('the offer', (e) => e.topic === 'sc.offered' && e.data.id === o.id);
    await call(w.bob, 'sc.accept', { id: o.id, to_self_delay: 6 });
    // Bob killed as soon as the accept is durable.
    await w.restart('bob');
    // Alice takes the accept (funding_created queued in that batch), and is killed at once.
    await w.waitState(w.alice, o.id, 'funding');
    await w.restart('alice');
    await w.fundedAndOpen(o.id);
    const [a, b] = await Promise.all([w.view(w.alice, o.id), w.view(w.bob, o.id)]);
    assert.deepEqual([a.number, b.number, a.funding_txid], [0, 0, b.funding_txid]);
    assert.deepEqual((await call<{ offers: unknown[] }>(w.bob, 'sc.inbox')).offers, []);
    // One channel each: nothing made twice.
    assert.equal((await call<unknown[]>(w.bob, 'sc.list')).length, 1);
    assert.deepEqual(refusedInLogs(w), []);
    await outboxesEmpty(w);
  });

  it('killed during updates (each side in turn, at varying moments): each state completes once and both agree', async () => {
    const id = (await call<Array<{ id: string; state: string }>>(w.alice, 'sc.list')).find((c) => c.state === 'open')!.id;
    const avail = CAPACITY - (await w.view(w.alice, id)).fee_sat;
    let n = 0;
    let toAccepter = 0;
    for (let round = 0; round < 8; round++) {
      // Proposers in turn; the one killed in turn too, after 0..70 ms of the round trip.
      const from = round % 2 === 0 ? w.alice : w.bob;
      toAccepter += round % 2 === 0 ? 30_000 : -10_000;
      n++;
      const u = await call<{ number: number }>(from, 'sc.update', { id, to_opener_sat: avail - toAccepter, to_accepter_sat: toAccepter });
      assert.equal(u.number, n);
      await new Promise((r) => setTimeout(r, (round * 10) % 80));
      await w.restart(round % 4 < 2 ? 'bob' : 'alice');
      await settled(w, id, n);
    }
    // And on without kills: the channel goes on from the agreed state.
    for (let i = 0; i < 20; i++) {
      toAccepter += 1_000;
      n++;
      await call(w.alice, 'sc.update', { id, to_opener_sat: avail - toAccepter, to_accepter_sat: toAccepter });
      await Promise.all([w.ev.alice.number(id, n), w.ev.bob.number(id, n)]);
    }
    await settled(w, id, n);
    const [a, b] = await Promise.all([w.view(w.alice, id), w.view(w.bob, id)]);
    for (const v of [a, b]) assert.deepEqual([v.number, v.to_opener_sat, v.to_accepter_sat, v.state], [n, avail - toAccepter, toAccepter, 'open']);
    assert.deepEqual(refusedInLogs(w), []);
    await outboxesEmpty(w);
  });
});
