// The DLC room end to end, contracts on numbers and on several oracles: two anyad instances (Alice offers, Bob
// accepts) on one bcoin regtest node, set up by dlc-setup.ts, with test oracles (test/peers/dlc-oracle.ts). A
// payout curve over 10 binary digits closed by the attested value; a contract on 2 of 3 oracles closed by two that
// agree, refused with one, with two that disagree, or with a stranger.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as bitcoin from 'bitcoinjs-lib';
import { until } from '../helpers/until.js';
import { digitDescriptor, enumDescriptor, makeOracle } from '../peers/dlc-oracle.js';
import { call, hex, twoAnyads } from './dlc-setup.js';

describe('DLC: numeric and multi-oracle contracts between two anyads', () => {
  const w = twoAnyads();
  const { coinbase, state, waitState, fund } = w;

  it('a numeric contract: a payout curve of three pieces over 10 binary digits, closed by the attested value', async () => {
    const [bobBlock] = await w.node.mine(1, w.bob.address);
    const [aliceBlock] = await w.node.mine(101, w.alice.address);
    const oracle = makeOracle(digitDescriptor(2, false, 10), 10, 'btcusd-2026-11-30', 'tagged', 1_600_000_000);
    // Alice gets nothing up to 400, all of the 1 BTC from 600, a straight line between; rounded to 0.01 BTC.
    const offered = await call<{ id: string; offer: string }>(w.alice.ch, 'dlc.offer', {
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
    const cets = (await call<{ accept: string }>(w.bob.ch, 'dlc.get', { id: offered.id })) as unknown as { accept: string };
    assert.ok(cets.accept.length > 100 * 324, 'about a hundred CETs, each with its adaptor signature');
    // The oracle attests 500 = 0111110100: the CET of the prefix covering 500 pays half to each.
    const digits = (500).toString(2).padStart(10, '0').split('');
    const closed = await call<{ outcome: string; txid: string }>(w.alice.ch, 'dlc.close', { id: offered.id, attestation: hex(oracle.attest(digits)) });
    assert.ok(digits.join('').startsWith(closed.outcome), `${closed.outcome} is a prefix of ${digits.join('')}`);
    await until('the CET in the node mempool', async () => ((await w.node.rpc<string[]>('getrawmempool')).includes(closed.txid) ? true : undefined));
    await w.node.mine(1, w.bob.address);
    await waitState(w.bob, offered.id, 'closed');
    const cet = bitcoin.Transaction.fromHex(await w.node.rpc<string>('getrawtransaction', closed.txid, false));
    assert.deepEqual(
      cet.outs.map((o) => o.value),
      [50_000_000n, 50_000_000n],
    );
    // Outside the event: refused with the digit named
    const bad = await w.bob.ch.call('dlc.verifyattestation', { announcement: hex(oracle.ann), attestation: hex(oracle.attest([...digits.slice(0, 9), '2'])) });
    assert.match(bad.error!.message, /digit 10 is "2", not a base-2 digit/);
  });

  it('a contract on 2 of 3 oracles: two agreeing attestations complete the CET; one, two that disagree, or a stranger are refused', async () => {
    const [bobBlock] = await w.node.mine(1, w.bob.address);
    const [aliceBlock] = await w.node.mine(101, w.alice.address);
    const oracles = [0, 1, 2].map(() => makeOracle(enumDescriptor(['rain', 'sun']), 1, 'weather-2026-12-01', 'tagged', 1_600_000_000));
    const offered = await call<{ id: string; offer: string }>(w.alice.ch, 'dlc.offer', {
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
    const one = await w.alice.ch.call('dlc.close', { id, attestations: [att(0, 'rain')] });
    assert.equal(one.error?.code, -32602);
    assert.match(one.error!.message, /2 oracles must attest the same outcome; the attestations given agree at most 1/);
    const split = await w.alice.ch.call('dlc.close', { id, attestations: [att(0, 'rain'), att(1, 'sun')] });
    assert.match(split.error!.message, /agree at most 1/);
    const stranger = makeOracle(enumDescriptor(['rain', 'sun']), 1, 'weather-2026-12-01', 'tagged', 1_600_000_000);
    const foreign = await w.alice.ch.call('dlc.close', { id, attestations: [att(0, 'rain'), hex(stranger.attest(['rain']))] });
    assert.match(foreign.error!.message, /which this contract does not name/);
    const both = await w.alice.ch.call('dlc.close', { id, attestation: att(0, 'rain'), attestations: [att(2, 'rain')] });
    assert.match(both.error!.message, /not both/);
    // Bob closes with oracles 2 and 0 agreeing on "rain" (oracle 1 says "sun"): the CET pays Alice the whole 0.4 BTC.
    const closed = await call<{ outcome: string; txid: string }>(w.bob.ch, 'dlc.close', { id, attestations: [att(2, 'rain'), att(1, 'sun'), att(0, 'rain')] });
    assert.equal(closed.outcome, 'rain');
    await until('the CET in the node mempool', async () => ((await w.node.rpc<string[]>('getrawmempool')).includes(closed.txid) ? true : undefined));
    await w.node.mine(1, w.bob.address);
    await waitState(w.bob, id, 'closed');
    await waitState(w.alice, id, 'closed');
    assert.deepEqual([(await state(w.alice, id)).outcome, (await state(w.alice, id)).closing_txid], ['rain', closed.txid]);
    const cet = bitcoin.Transaction.fromHex(await w.node.rpc<string>('getrawtransaction', closed.txid, false));
    assert.deepEqual(
      cet.outs.map((o) => o.value),
      [40_000_000n],
    );
  });
});
