// The state channels room end to end, a channel's life: two anyad instances (Alice opens, Bob accepts) on one bcoin
// regtest node, set up by channels-setup.ts, messages carried between them by this test as an app would. Open (the
// first commitments signed before the funding is broadcast), 1,000 updates with app data, cooperative close with
// exact balances to the payout addresses agreed at the open. Refusals: validator rules, messages for another channel or network, changed and replayed messages,
// concurrent proposals and opens. Restarts are in channels-restarts.test.ts; unilateral closes, breaches and the
// audit of the signatures in channels-breach.test.ts.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { appHash, call, CAPACITY, refuses, twoAnyads, type Step } from './channels-setup.js';

describe('state channels: two anyads, one regtest chain', () => {
  const w = twoAnyads();
  const { view, waitState, inMempool, aliceCoin, paymentAddress, outputsOf, openChannel, update } = w;

  it('open, 1,000 updates with app data, cooperative close: the final balances exact on chain', async () => {
    const id = await openChannel();
    const first = await view(w.alice, id);
    const avail = CAPACITY - first.fee_sat;
    assert.deepEqual([first.number, first.to_opener_sat, first.to_accepter_sat], [0, avail, 0]);
    await call(w.bob, 'subscribe', { topics: ['sc.channel'] });
    let last = 0;
    for (let i = 1; i <= 1000; i++) {
      // Either party proposes; Bob's balance moves up and down.
      const toAccepter = (i % 7) * 1_000_000 + i * 10_000;
      const [from, to] = i % 2 === 1 ? [w.alice, w.bob] : [w.bob, w.alice];
      last = await update(id, from, to, avail - toAccepter, toAccepter, appHash(i));
    }
    assert.equal(last, 1000);
    const [a, b] = await Promise.all([view(w.alice, id), view(w.bob, id)]);
    const want = (1000 % 7) * 1_000_000 + 1000 * 10_000;
    for (const v of [a, b]) assert.deepEqual([v.number, v.to_accepter_sat, v.to_opener_sat, v.state], [1000, want, avail - want, 'open']);
    // Bob's sc.channel events: every state number, in order.
    const numbers: number[] = [];
    while (numbers.at(-1) !== 1000) {
      const n = (await w.bob.ch.next(5000)) as { params?: { topic: string; data: { number: number } } };
      if (n.params?.topic === 'sc.channel') numbers.push(n.params.data.number);
    }
    assert.deepEqual(
      numbers.filter((x, i) => numbers.indexOf(x) === i),
      Array.from({ length: 1000 }, (_, i) => i + 1),
    );

    // Cooperative close: Alice proposes, Bob's anyad signs and broadcasts.
    const close = await call<{ message: string }>(w.alice, 'sc.close', { id });
    const closed = await call<Step>(w.bob, 'sc.receive', { message: close.message });
    assert.ok(closed.txid);
    await inMempool(closed.txid);
    await w.node.mine(1, w.bob.address);
    await waitState(w.alice, id, 'closed');
    await waitState(w.bob, id, 'closed');
    const outs = await outputsOf(closed.txid);
    // Each balance to the payout address its anyad named at the open: a wallet address (the wallet room is on), not
    // the channel's payment key; both anyads agree on both (channels-payouts.test.ts follows them into the wallets).
    const aliceTo = a.payout.close!;
    const bobTo = b.payout.close!;
    assert.deepEqual([b.payout.their_close, a.payout.their_close], [aliceTo, bobTo]);
    assert.notEqual(aliceTo, await paymentAddress(w.alice, a.keys.payment));
    assert.notEqual(bobTo, await paymentAddress(w.bob, b.keys.payment));
    assert.deepEqual(
      outs.filter((o) => o.address).sort((x, y) => x.value - y.value),
      [
        { address: bobTo, value: want },
        { address: aliceTo, value: avail - want },
      ].sort((x, y) => x.value - y.value),
    );
    assert.ok(
      outs.some((o) => o.address === null && o.value === 0),
      'the app data output',
    );
    assert.equal((await view(w.bob, id)).closed_by, 'cooperative');
  });

  it('refuses: states breaking a rule, messages changed, replayed, for another channel or another network', async () => {
    const id = await openChannel();
    const avail = CAPACITY - (await view(w.alice, id)).fee_sat;
    await refuses(w.alice, 'sc.update', { id, to_opener_sat: avail, to_accepter_sat: 1 }, -32602, /add up to .*capacity minus the commitment fee/);
    await refuses(w.alice, 'sc.update', { id, to_opener_sat: avail - 100, to_accepter_sat: 100 }, -32602, /accepter's balance of 100 sat is dust/);
    const u = await call<{ message: string }>(w.alice, 'sc.update', { id, to_opener_sat: avail - 5_000_000, to_accepter_sat: 5_000_000 });
    await refuses(w.alice, 'sc.update', { id, to_opener_sat: avail, to_accepter_sat: 0 }, -32014, /in flight/);
    // The update changed on the way: the balances, the channel, the network.
    const env = JSON.parse(Buffer.from(u.message, 'hex').toString()) as Record<string, unknown> & { body: Record<string, unknown> };
    const again = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('hex');
    await refuses(
      w.bob,
      'sc.receive',
      { message: again({ ...env, body: { ...env.body, to_accepter_sat: '6000000', to_opener_sat: String(avail - 6_000_000) } }) },
      -32602,
      /not signed by the channel's counterparty/,
    );
    await refuses(w.bob, 'sc.receive', { message: again({ ...env, channel: 'ab'.repeat(32) }) }, -32011, /no channel .* another channel/);
    await refuses(w.bob, 'sc.receive', { message: again({ ...env, chain: '6f'.repeat(32) }) }, -32602, /another network/);
    await refuses(w.bob, 'sc.receive', { message: 'zz' }, -32602, /message/);
    // The real one goes through; played again, it is refused.
    const ack = await call<Step>(w.bob, 'sc.receive', { message: u.message });
    await refuses(w.bob, 'sc.receive', { message: u.message }, -32014, /in flight/);
    const revoke = await call<Step>(w.alice, 'sc.receive', { message: ack.message });
    await refuses(w.alice, 'sc.receive', { message: ack.message }, -32014, /no proposed state/);
    await call<Step>(w.bob, 'sc.receive', { message: revoke.message });
    await refuses(w.bob, 'sc.receive', { message: revoke.message }, -32014, /waits for no revocation/);
    await refuses(w.bob, 'sc.receive', { message: u.message }, -32602, /state 1 does not follow state 1/);
    const [a, b] = await Promise.all([view(w.alice, id), view(w.bob, id)]);
    assert.deepEqual([a.number, b.number, a.to_accepter_sat, b.to_accepter_sat], [1, 1, 5_000_000, 5_000_000]);

    // 24 proposals at once over Alice's socket: one is made, the others find it in flight; 24 deliveries of it to
    // Bob at once: one ack, the others refused.
    const tries = await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        w.alice.ch.call('sc.update', { id, to_opener_sat: avail - 6_000_000 - i * 1000, to_accepter_sat: 6_000_000 + i * 1000 }),
      ),
    );
    const made = tries.filter((r) => r.result).map((r) => r.result as { message: string; number: number });
    assert.equal(made.length, 1);
    assert.ok(tries.every((r) => r.result || (r.error?.code === -32014 && /in flight/.test(r.error.message))));
    const acks = await Promise.all(Array.from({ length: 24 }, () => w.bob.ch.call('sc.receive', { message: made[0]!.message })));
    assert.equal(acks.filter((r) => r.result).length, 1);
    const ack2 = acks.find((r) => r.result)!.result as Step;
    const revoke2 = await call<Step>(w.alice, 'sc.receive', { message: ack2.message });
    await call<Step>(w.bob, 'sc.receive', { message: revoke2.message });
    assert.deepEqual([(await view(w.alice, id)).number, (await view(w.bob, id)).number], [2, 2]);

    // 16 opens with one coin at once: one channel is offered, the others name it; cancelled, the coin is free again.
    const coin = await aliceCoin();
    const opens = await Promise.all(Array.from({ length: 16 }, () => w.alice.ch.call('sc.open', { capacity_sat: 1_000_000, utxos: [coin] })));
    const offered = opens.filter((r) => r.result).map((r) => r.result as { id: string });
    assert.equal(offered.length, 1);
    for (const r of opens.filter((x) => x.error)) assert.match(r.error!.message, new RegExp(`funds channel ${offered[0]!.id} already`));
    await refuses(w.alice, 'sc.cancel', { id }, -32014, /only a channel whose funding was never signed/);
    assert.equal((await call<{ state: string }>(w.alice, 'sc.cancel', { id: offered[0]!.id })).state, 'cancelled');
    await call(w.alice, 'sc.open', { capacity_sat: 1_000_000, utxos: [coin] });
  });
});
