// Issue 26 review (an attacker's look at the DLC room's checks): what a hostile counterparty could still do after the
// first round of checks, each against real anyads on one bcoin regtest node, the counterparty's moves made by the
// test (messages as the counterparty sends them, its coins spent as it chooses).

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startBcoin, type BcoinNode } from '../helpers/bcoin.js';
import { tempDir } from '../helpers/daemon.js';
import { until } from '../helpers/until.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { decodeAccept, decodeOffer, encodeClose, encodeOffer } from '../../src/adapters/dlc/messages.js';
import { buildFunding, closingSighash, mutualClose } from '../../src/adapters/dlc/transactions.js';
import { TLV } from '../../src/adapters/dlc/oracle.js';
import { Writer } from '../../src/adapters/dlc/wire.js';
import { enumDescriptor, makeOracle } from '../peers/dlc-oracle.js';
import { call, startParty, type Party } from '../helpers/contract-party.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const MATURITY = 1_600_000_000;

describe('DLC: an attacker against the issue 26 checks', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let node: BcoinNode;
  let alice: Party;
  let bob: Party;
  const pool: Array<{ aliceCoin: { txid: string; vout: number }; bobCoin: { txid: string; vout: number } }> = [];

  const start = (name: string): Promise<Party> => startParty(dir.path, node, name);
  const coinbase = async (hash: string): Promise<{ txid: string; vout: number }> => {
    const block = await node.rpc<{ tx: string[] }>('getblock', hash, true, false);
    return { txid: block.tx[0]!, vout: 0 };
  };
  const state = async (p: Party, id: string): Promise<string> => (await call<{ state: string }>(p.ch, 'dlc.get', { id })).state;
  const enumOffer = async (coin: { txid: string; vout: number }, event: string): Promise<{ id: string; offer: string }> => {
    const oracle = makeOracle(enumDescriptor(['yes', 'no']), 1, event, 'tagged', MATURITY);
    return call(alice.ch, 'dlc.offer', {
      announcement: hex(oracle.ann),
      payouts: [
        { outcome: 'yes', offer_payout_sat: 20_000_000 },
        { outcome: 'no', offer_payout_sat: 0 },
      ],
      offer_collateral_sat: 10_000_000,
      total_collateral_sat: 20_000_000,
      fee_rate_sat_vb: 2,
      utxos: [coin],
    });
  };
  /** A party spends one of its own coins elsewhere (to its own address), through its anyad's keystore. */
  const spendElsewhere = async (p: Party, coin: { txid: string; vout: number }): Promise<string> => {
    const made = await call<{ psbt: string; inputs_sat: number }>(p.ch, 'chain.createpsbt', {
      inputs: [coin],
      outputs: [{ address: p.address, amount_sat: 4_999_000_000 }],
    });
    const signed = await call<{ psbt: string }>(p.ch, 'hsm.signpsbt', { psbt: made.psbt });
    const fin = await call<{ complete: boolean; hex: string }>(p.ch, 'chain.finalizepsbt', { psbt: signed.psbt });
    assert.equal(fin.complete, true);
    return node.send(fin.hex);
  };

  before(async () => {
    dir = await tempDir();
    node = await startBcoin(dir.path);
    alice = await start('alice');
    bob = await start('bob');
    await until('both connected to the node', async () => {
      const a = await call<{ state: string }>(alice.ch, 'chain.getinfo');
      const b = await call<{ state: string }>(bob.ch, 'chain.getinfo');
      return a.state === 'connected' && b.state === 'connected' ? true : undefined;
    });
    const bobBlocks = await node.mine(3, bob.address);
    const aliceBlocks = await node.mine(3, alice.address);
    await node.mine(100, bob.address);
    for (let i = 0; i < 3; i++) pool.push({ aliceCoin: await coinbase(aliceBlocks[i]!), bobCoin: await coinbase(bobBlocks[i]!) });
  });
  after(async () => {
    alice?.ch.close();
    bob?.ch.close();
    await alice?.d.kill();
    await bob?.d.kill();
    await node?.stop().catch(() => undefined);
    await dir?.remove();
  });

  it('the offerer spends its funding input elsewhere once Bob has broadcast the funding: Bob can cancel the contract and use his coin again', async () => {
    const { aliceCoin, bobCoin } = pool.shift()!;
    const offered = await enumOffer(aliceCoin, 'double spent');
    const accepted = await call<{ accept: string }>(bob.ch, 'dlc.accept', { offer: offered.offer, utxos: [bobCoin] });
    const signed = await call<{ sign: string }>(alice.ch, 'dlc.sign', { accept: accepted.accept });
    // The hostile offerer spends the coin it signed into the funding elsewhere, first: the funding Bob sends can
    // never confirm. (bcoin answers sendrawtransaction before its mempool decides, as a node behind a relay does; a
    // replacement after Bob's funding reached the mempool ends the same way.)
    const conflict = await spendElsewhere(alice, aliceCoin);
    const funded = await call<{ txid: string }>(bob.ch, 'dlc.finalize', { sign: signed.sign });
    assert.equal(await state(bob, offered.id), 'broadcast');
    await node.mine(1, bob.address);
    const tip = await node.rpc<number>('getblockcount');
    await until('Bob at the tip', async () => ((await call<{ blocks: number }>(bob.ch, 'chain.getinfo')).blocks === tip ? true : undefined));
    assert.ok((await node.rpc<{ confirmations: number }>('getrawtransaction', conflict, true)).confirmations >= 1, 'the conflict is mined');
    assert.equal(await node.rpc('gettxout', funded.txid, 0, true), null, 'the funding is nowhere');
    // Bob's contract can never be funded: he cancels it (before the fix: Conflict, "is broadcast"), and his coin is
    // free for another contract.
    assert.deepEqual(await call(bob.ch, 'dlc.cancel', { id: offered.id }), { id: offered.id, state: 'cancelled' });
    const other = makeOracle(enumDescriptor(['a', 'b']), 1, 'bob again', 'tagged', MATURITY);
    const again = await call<{ id: string }>(bob.ch, 'dlc.offer', {
      announcement: hex(other.ann),
      payouts: [
        { outcome: 'a', offer_payout_sat: 1_000_000 },
        { outcome: 'b', offer_payout_sat: 0 },
      ],
      offer_collateral_sat: 500_000,
      total_collateral_sat: 1_000_000,
      fee_rate_sat_vb: 2,
      utxos: [bobCoin],
    });
    await call(bob.ch, 'dlc.cancel', { id: again.id });
  });
  it('an event whose outcomes differ only in Unicode form (one adaptor point for two CETs) is refused before anything is signed', async () => {
    // An oracle's event lists "\u00e9" and "e\u0301" (the same text, NFC and NFD), each written as its own bytes.
    // anyad signs and checks outcomes as NFC: both CETs' adaptor signatures would be encrypted under one point, and
    // an attestation of one outcome, relabelled, verifies as the other: the counterparty would complete whichever
    // CET pays it more.
    const nfc = '\u00e9';
    const nfd = 'e\u0301';
    const raw = (s: string, w: Writer): Writer => w.bigsize(Buffer.byteLength(s)).bytes(Buffer.from(s, 'utf8'));
    const descriptor = new Writer().tlv(TLV.enumDescriptor, raw(nfd, raw(nfc, new Writer().u16(2))).done()).done();
    const oracle = makeOracle(descriptor, 1, 'unicode forms', 'tagged', MATURITY);
    // A hostile offerer's offer on it (Alice's offer's other fields), each payout naming its outcome by its own bytes
    // as rust-dlc writes them: the NFC one pays the offerer everything, the NFD one nothing.
    const { aliceCoin } = pool.shift()!;
    const base = decodeOffer(Buffer.from((await enumOffer(aliceCoin, 'unicode base')).offer, 'hex'));
    const total = base.contract_info.total_collateral;
    const tmpId = hex(randomBytes(32));
    const offer = hex(
      encodeOffer({
        ...base,
        temporary_contract_id: tmpId,
        contract_info: {
          ...base.contract_info,
          announcement_tlv: hex(oracle.ann),
          payouts: [
            { outcome: 'x', offer_payout: total },
            { outcome: 'y', offer_payout: 0n },
          ],
        },
      }),
    );
    const written = hex(new Writer().bigsize(2).string('x').u64(total).string('y').u64(0n).done());
    const hostile = hex(
      raw(nfd, raw(nfc, new Writer().bigsize(2)).u64(total))
        .u64(0n)
        .done(),
    );
    assert.equal(offer.split(written).length, 2, 'the payouts found once in the offer');
    const bytes = offer.replace(written, hostile);
    for (const method of ['dlc.decodeoffer', 'dlc.accept']) {
      const r = await bob.ch.call(method, method === 'dlc.accept' ? { offer: bytes, utxos: [pool[0]!.bobCoin] } : { offer: bytes }, undefined, 120_000);
      assert.equal(r.error?.code, -32602, `${method}: ${JSON.stringify(r.result ?? r.error)}`);
      assert.match(r.error!.message, /two outcomes that are the same text in another Unicode form/);
    }
    assert.equal((await bob.ch.call('dlc.get', { id: tmpId })).error?.code, -32011, 'Bob keeps no contract of it');
  });
  it('a close_dlc whose payouts take the fee the funding output keeps (a close that cannot confirm, an option for its sender) is refused before signing', async () => {
    const { aliceCoin, bobCoin } = pool.shift()!;
    const offered = await enumOffer(aliceCoin, 'zero-fee close');
    const accepted = await call<{ accept: string }>(bob.ch, 'dlc.accept', { offer: offered.offer, utxos: [bobCoin] });
    const signed = await call<{ sign: string }>(alice.ch, 'dlc.sign', { accept: accepted.accept });
    const funded = await call<{ txid: string }>(bob.ch, 'dlc.finalize', { sign: signed.sign });
    await until('the funding in the mempool', async () => ((await node.rpc<string[]>('getrawmempool')).includes(funded.txid) ? true : undefined));
    await node.mine(1, bob.address);
    await until('Bob sees it confirmed', async () => ((await state(bob, offered.id)) === 'confirmed' ? true : undefined), 800);
    // Alice (hostile) proposes a close paying Bob exactly what he agreed to take, and herself the rest of the funding
    // output: the close has no fee. Signed with her funding key as dlc.proposeclose would, but for these payouts.
    const o = decodeOffer(Buffer.from(offered.offer, 'hex'));
    const f = buildFunding(o, decodeAccept(Buffer.from(accepted.accept, 'hex')));
    const toBob = 5_000_000n;
    const toAlice = f.fundValue - toBob;
    const tx = mutualClose(o, decodeAccept(Buffer.from(accepted.accept, 'hex')), f, toAlice, toBob);
    const rec = await call<{ keys: { funding: string }; contract_id: string }>(alice.ch, 'dlc.get', { id: offered.id });
    const { signature } = await call<{ signature: string }>(alice.ch, 'hsm.sign', { key: rec.keys.funding, digest: hex(closingSighash(tx, f)) });
    const close = hex(
      encodeClose({
        contract_id: rec.contract_id,
        close_signature: hex(secp256k1.Signature.fromBytes(Buffer.from(signature, 'hex'), 'der').toBytes('compact')),
        offer_payout: toAlice,
        accept_payout: toBob,
        fund_input_serial_id: 0n,
      }),
    );
    const r = await bob.ch.call('dlc.acceptclose', { close, payout_sat: Number(toBob) }, undefined, 120_000);
    assert.equal(r.error?.code, -32602, `Bob signed it: ${JSON.stringify(r.result ?? r.error)}`);
    assert.match(r.error!.message, /more than the total collateral 20000000: it takes the fee/);
    assert.equal(await state(bob, offered.id), 'confirmed');
  });
});
