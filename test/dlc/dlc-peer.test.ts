// DLCs over the peer network (issue 28 item 3): two anyads on one bcoin regtest node (dlc-setup.ts), connected with
// peer.connect, complete contracts with no message carried by the test — only dlc.offer peer=, dlc.accept id= and
// waiting for states and events. An enumerated contract offered, accepted, signed, funded and closed by the
// oracle's attestation; the offerer killed (SIGKILL) as the accept arrives, the accepter killed as its accept
// leaves, and the offerer's keystore locked as the accept arrives (the accept kept in its inbox across a kill,
// signed at the restart), each restarted: the protocol completes once (one 'DLC signed', one funding broadcast, no
// refusal). A numeric contract whose accept_dlc and sign_dlc pass a delivered payload (65,515 bytes) goes in
// segments. A mutual close proposed over the wire and taken by id (dlc.closeproposed, dlc.acceptclose id=).
// Refused, never signed: an accept_dlc from a peer that is not the contract's counterparty, a sign_dlc for no
// contract (a raw BOLT 8 peer of the test's own sends them inside delivery envelopes). With the peer network off,
// peer= and id= answer Unsupported naming p2p.enable.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { unixChannel, type Channel } from '../helpers/channel.js';
import type { RunningDaemon } from '../helpers/daemon.js';
import { until } from '../helpers/until.js';
import { digitDescriptor, enumDescriptor, makeOracle } from '../peers/dlc-oracle.js';
import { freePort } from '../p2p/daemons.js';
import { envelope, rawPeer } from '../p2p/raw-peer.js';
import { MSG_DELIVER, MSG_DELIVERY_ACK } from '../../src/p2p/delivery.js';
import { encodeAccept, encodeSign } from '../../src/adapters/dlc/messages.js';
import { call, hex, twoAnyads } from './dlc-setup.js';
import { winLoseOffer } from '../helpers/dlc-offers.js';

type Name = 'alice' | 'bob';
interface Ev {
  topic: string;
  data: { id: string | null; peer: string; reason?: string; refusal?: string | null; terms?: { cets: number; accept_collateral_sat: number } };
}

/** Collects events on a channel until it closes. */
function collect(ch: Channel, into: Ev[]): void {
  let open = true;
  void ch.closed.then(() => (open = false));
  void (async () => {
    while (open) {
      const e = (await ch.next(250).catch(() => undefined)) as { method: string; params: Ev } | undefined;
      if (e?.method === 'event') into.push(e.params);
    }
  })();
}

describe('DLC over the peer network: two anyads, no message carried by the test', () => {
  const w = twoAnyads();
  const port: Record<Name, number> = { alice: 0, bob: 0 };
  const key: Record<Name, string> = { alice: '', bob: '' };
  const seen: Record<Name, Ev[]> = { alice: [], bob: [] };
  const events: Partial<Record<Name, Channel>> = {};
  /** Every run of each anyad, for its logs across kills. */
  const runs: Record<Name, RunningDaemon[]> = { alice: [], bob: [] };

  const listen = async (name: Name): Promise<void> => {
    const ch = await unixChannel(w[name].d.socket);
    await call(ch, 'subscribe', { topics: ['dlc.offered', 'dlc.refused'] });
    events[name] = ch;
    collect(ch, seen[name]);
    runs[name].push(w[name].d);
  };
  const restart = async (name: Name, signal?: NodeJS.Signals): Promise<void> => {
    const p = w[name];
    p.ch.close();
    events[name]?.close();
    await p.d.kill(signal);
    w[name] = { ...(await w.start(name, false, [`-p2p.peerport=${port[name]}`])), address: p.address };
    await listen(name);
  };
  const logged = (name: Name, msg: string, id: string): number => runs[name].flatMap((d) => d.logs).filter((l) => l.msg === msg && l.id === id).length;
  const offeredAtBob = (id: string): Promise<Ev> =>
    until('dlc.offered at Bob', async () => seen.bob.find((e) => e.topic === 'dlc.offered' && e.data.id === id), 1200);
  const refusals = (name: Name): Ev[] => seen[name].filter((e) => e.topic === 'dlc.refused');
  const connected = (): Promise<true> =>
    until(
      'Alice and Bob connected',
      async () =>
        (await call<Array<{ pubkey: string; connected: boolean }>>(w.alice.ch, 'peer.list')).some((p) => p.pubkey === key.bob && p.connected)
          ? true
          : undefined,
      1200,
    );
  const inMempool = (txid: string): Promise<true> =>
    until('the funding in the node mempool', async () => ((await w.node.rpc<string[]>('getrawmempool')).includes(txid) ? true : undefined), 1200);

  /** Alice offers an enumerated contract to Bob's node key; Bob's anyad is told (dlc.offered). */
  async function offerToBob(eventId: string): Promise<{ id: string; oracle: ReturnType<typeof makeOracle>; bobCoin: { txid: string; vout: number } }> {
    const [bobBlock] = await w.node.mine(1, w.bob.address);
    const [aliceBlock] = await w.node.mine(101, w.alice.address);
    const oracle = makeOracle(enumDescriptor(['win', 'lose']), 1, eventId, 'tagged', 1_600_000_000);
    const offered = await call<{ id: string }>(
      w.alice.ch,
      'dlc.offer',
      winLoseOffer(hex(oracle.ann), 100_000_000, 2, { utxos: [await w.coinbase(aliceBlock!)], peer: key.bob }),
    );
    return { id: offered.id, oracle, bobCoin: await w.coinbase(bobBlock!) };
  }

  /** Bob's funding seen in the mempool, mined, confirmed at both. */
  async function funded(id: string): Promise<string> {
    await w.waitState(w.bob, id, 'broadcast');
    const txid = (await call<{ funding_txid: string }>(w.bob.ch, 'dlc.get', { id })).funding_txid;
    await inMempool(txid);
    await w.node.mine(1, w.bob.address);
    await w.waitState(w.alice, id, 'confirmed');
    await w.waitState(w.bob, id, 'confirmed');
    return txid;
  }

  before(async () => {
    // Each anyad's peer listener on a port of its own, kept across its restarts.
    port.alice = await freePort();
    port.bob = await freePort();
    await restart('alice');
    await restart('bob');
    for (const name of ['alice', 'bob'] as const)
      key[name] = await until(`${name}'s node key`, async () => (await call<{ pubkey: string | null }>(w[name].ch, 'peer.getinfo')).pubkey ?? undefined);
    await call(w.alice.ch, 'peer.connect', { address: `${key.bob}@127.0.0.1:${port.bob}` });
    await connected();
  });

  it('an enumerated contract: offered with peer=, accepted by id, signed, funded and closed; no message carried by the test', async () => {
    const { id, oracle, bobCoin } = await offerToBob('wire-match-1');
    const told = await offeredAtBob(id);
    assert.equal(told.data.peer, key.alice);
    assert.equal(told.data.refusal, null);
    assert.equal(told.data.terms!.accept_collateral_sat, 100_000_000);
    // Nothing made on receipt: no contract at Bob until he accepts.
    assert.equal((await w.bob.ch.call('dlc.get', { id })).error?.code, -32011);
    const accepted = await call<{ id: string }>(w.bob.ch, 'dlc.accept', { id, utxos: [bobCoin], expect: { accept_collateral_sat: 100_000_000 } });
    assert.equal(accepted.id, id);
    // Taken once: a second accept of the same received offer is refused.
    assert.equal((await w.bob.ch.call('dlc.accept', { id, utxos: [bobCoin] })).error?.code, -32011);
    await funded(id);
    const closed = await call<{ outcome: string; txid: string }>(w.alice.ch, 'dlc.close', { id, attestation: hex(oracle.attest(['win'])) });
    assert.equal(closed.outcome, 'win');
    await until('the CET in the node mempool', async () => ((await w.node.rpc<string[]>('getrawmempool')).includes(closed.txid) ? true : undefined));
    await w.node.mine(1, w.bob.address);
    await w.waitState(w.alice, id, 'closed');
    await w.waitState(w.bob, id, 'closed');
    assert.deepEqual([logged('alice', 'DLC signed', id), logged('bob', 'DLC funding broadcast', id)], [1, 1]);
    assert.deepEqual([...refusals('alice'), ...refusals('bob')], []);
  });

  it('the offerer killed (SIGKILL) as the accept arrives, restarted: it signs once and the accepter funds once', async () => {
    const { id, bobCoin } = await offerToBob('wire-match-2');
    await offeredAtBob(id);
    const arrived = w.alice.d.waitForLog((l) => l.msg === 'a DLC message taken from a peer' && l.type === 42780, 30_000);
    await call(w.bob.ch, 'dlc.accept', { id, utxos: [bobCoin] });
    await arrived;
    await restart('alice', 'SIGKILL');
    await funded(id);
    assert.deepEqual([logged('alice', 'DLC signed', id), logged('bob', 'DLC funding broadcast', id)], [1, 1]);
    assert.deepEqual([...refusals('alice'), ...refusals('bob')], []);
  });

  it("the offerer's keystore locked as the accept arrives: the accept waits in its inbox, kept across a SIGKILL, signed once at the restart", async () => {
    const { id, bobCoin } = await offerToBob('wire-match-2b');
    await offeredAtBob(id);
    await call(w.alice.ch, 'hsm.lock');
    const waits = w.alice.d.waitForLog((l) => l.msg === 'a DLC message from a peer waits: tried again later' && l.type === 42780, 30_000);
    await call(w.bob.ch, 'dlc.accept', { id, utxos: [bobCoin] });
    assert.match(String((await waits).reason), /lock/i);
    assert.equal((await w.state(w.alice, id)).state, 'offered');
    await restart('alice', 'SIGKILL');
    await funded(id);
    // Taken once (the restarted anyad did not take it again from Bob: it found it in its inbox), signed once.
    assert.equal(runs.alice.at(-1)!.logs.filter((l) => l.msg === 'a DLC message taken from a peer').length, 0);
    assert.deepEqual([logged('alice', 'DLC signed', id), logged('bob', 'DLC funding broadcast', id)], [1, 1]);
    assert.deepEqual([...refusals('alice'), ...refusals('bob')], []);
  });

  it('the accepter killed (SIGKILL) as its accept leaves, restarted: the sign reaches it and it funds once', async () => {
    const { id, bobCoin } = await offerToBob('wire-match-3');
    await offeredAtBob(id);
    await call(w.bob.ch, 'dlc.accept', { id, utxos: [bobCoin] });
    await restart('bob', 'SIGKILL');
    await w.waitState(w.alice, id, 'signed');
    await connected();
    await funded(id);
    assert.deepEqual([logged('alice', 'DLC signed', id), logged('bob', 'DLC funding broadcast', id)], [1, 1]);
    assert.deepEqual([...refusals('alice'), ...refusals('bob')], []);
  });

  it('a numeric contract whose accept_dlc and sign_dlc pass 65,515 bytes: sent in segments, reassembled, funded', async () => {
    const [bobBlock] = await w.node.mine(1, w.bob.address);
    const [aliceBlock] = await w.node.mine(101, w.alice.address);
    const oracle = makeOracle(digitDescriptor(2, false, 10), 10, 'btcusd-wire', 'tagged', 1_600_000_000);
    // A straight line over the whole axis rounded to 0.005 BTC: some 200 payouts, hundreds of CETs.
    const offered = await call<{ id: string }>(w.alice.ch, 'dlc.offer', {
      announcement: hex(oracle.ann),
      payout_curve: [
        { outcome: 0, offer_payout_sat: 0 },
        { outcome: 1023, offer_payout_sat: 100_000_000 },
      ],
      rounding_mod: 500_000,
      offer_collateral_sat: 50_000_000,
      total_collateral_sat: 100_000_000,
      fee_rate_sat_vb: 1,
      utxos: [await w.coinbase(aliceBlock!)],
      peer: key.bob,
    });
    const told = await offeredAtBob(offered.id);
    assert.ok(told.data.terms!.cets > 420, `${told.data.terms!.cets} CETs: an accept over 65,515 bytes`);
    await call(w.bob.ch, 'dlc.accept', { id: offered.id, utxos: [await w.coinbase(bobBlock!)] });
    await funded(offered.id);
    const got = await call<{ accept: string; sign: string }>(w.alice.ch, 'dlc.get', { id: offered.id });
    assert.ok(got.accept.length / 2 > 65_515 && got.sign.length / 2 > 65_515, `accept ${got.accept.length / 2} and sign ${got.sign.length / 2} bytes`);
    const reassembled = (name: Name): unknown[] => runs[name].flatMap((d) => d.logs).filter((l) => l.msg === 'a segmented DLC message reassembled');
    assert.deepEqual(
      reassembled('alice').map((l) => (l as { type: number }).type),
      [42780],
    );
    assert.deepEqual(
      reassembled('bob').map((l) => (l as { type: number }).type),
      [42782],
    );
    assert.deepEqual([...refusals('alice'), ...refusals('bob')], []);
  });

  it('a mutual close over the wire: proposed by Alice, told to Bob (dlc.closeproposed), taken by id at the payout he expects', async () => {
    const { id, bobCoin } = await offerToBob('wire-match-5');
    await offeredAtBob(id);
    await call(w.bob.ch, 'dlc.accept', { id, utxos: [bobCoin] });
    await funded(id);
    await call(events.bob!, 'subscribe', { topics: ['dlc.closeproposed'] });
    // Alice takes 1.5 BTC, Bob the other 0.5.
    const proposed = await call<{ txid: string }>(w.alice.ch, 'dlc.proposeclose', { id, payout_sat: 150_000_000 });
    const told = await until('dlc.closeproposed at Bob', async () => seen.bob.find((e) => e.topic === 'dlc.closeproposed' && e.data.id === id), 1200);
    assert.deepEqual([told.data.peer, (told.data as unknown as { payout_sat: number }).payout_sat], [key.alice, 50_000_000]);
    // Refused at another payout than the one it pays (nothing signed), then taken at the right one.
    assert.equal((await w.bob.ch.call('dlc.acceptclose', { id, payout_sat: 60_000_000 })).error?.code, -32602);
    const taken = await call<{ txid: string }>(w.bob.ch, 'dlc.acceptclose', { id, payout_sat: 50_000_000 });
    assert.equal(taken.txid, proposed.txid);
    assert.equal((await w.bob.ch.call('dlc.acceptclose', { id, payout_sat: 50_000_000 })).error?.code, -32011, 'taken once');
    await until('the close in the node mempool', async () => ((await w.node.rpc<string[]>('getrawmempool')).includes(taken.txid) ? true : undefined));
    await w.node.mine(1, w.bob.address);
    await w.waitState(w.alice, id, 'closed');
    await w.waitState(w.bob, id, 'closed');
    assert.deepEqual([...refusals('alice'), ...refusals('bob')], []);
  });

  it('an offer Bob does not want: dlc.cancel declines it, and dlc.accept id= finds it no more', async () => {
    const { id } = await offerToBob('decline-1');
    await offeredAtBob(id);
    assert.deepEqual(await call(w.bob.ch, 'dlc.cancel', { id }), { id, state: 'declined' });
    const r = await w.bob.ch.call('dlc.accept', { id });
    assert.equal(r.error?.code, -32011, JSON.stringify(r.error));
    await call(w.alice.ch, 'dlc.cancel', { id });
  });

  it('refused, never signed: an accept_dlc from a peer that is not the counterparty; a sign_dlc for no contract', async () => {
    const { id } = await offerToBob('wire-match-4');
    await offeredAtBob(id);
    // A raw BOLT 8 peer with a key of its own, speaking the delivery envelope (epoch, seq, inner type, payload).
    const { t, pubkey: stranger } = await rawPeer(key.alice, port.alice);
    const acks: number[] = [];
    t.on('message', (type: number, payload: Buffer) => {
      if (type === MSG_DELIVERY_ACK) acks.push(Number(payload.readBigUInt64BE(8)));
    });
    const epoch = randomBytes(8);
    // The message's own u16 type is the envelope's inner type.
    const envelopeOf = (seq: number, message: Uint8Array): Buffer =>
      envelope(epoch, seq, Buffer.from(message).readUInt16BE(0), Buffer.from(message).subarray(2));
    const h = (n: number): string => randomBytes(n).toString('hex');
    const accept = encodeAccept({
      protocol_version: 1,
      temporary_contract_id: id,
      accept_collateral: 100_000_000n,
      funding_pubkey: hex(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true)),
      payout_spk: `0014${h(20)}`,
      payout_serial_id: 1n,
      funding_inputs: [],
      change_spk: `0014${h(20)}`,
      change_serial_id: 2n,
      cet_adaptor_signatures: [h(162), h(162)],
      refund_signature: h(64),
    });
    await t.send(MSG_DELIVER, envelopeOf(1, accept));
    const notTheirs = await until('the accept refused', async () => refusals('alice').find((e) => e.data.id === id), 1200);
    assert.equal(notTheirs.data.peer, stranger);
    assert.match(notTheirs.data.reason!, /not the peer it was offered to/);
    const noContract = h(32);
    await t.send(
      MSG_DELIVER,
      envelopeOf(
        2,
        encodeSign({ protocol_version: 1, contract_id: noContract, cet_adaptor_signatures: [h(162)], refund_signature: h(64), funding_signatures: [] }),
      ),
    );
    const unknown = await until('the sign refused', async () => refusals('alice').find((e) => e.data.id === noContract), 1200);
    assert.match(unknown.data.reason!, /sign_dlc for an unknown contract/);
    // Both taken (acknowledged: not sent again) and dropped; the contract still waits for Bob, nothing signed.
    await until('both acknowledged', async () => (acks.includes(2) ? true : undefined));
    t.close('done');
    assert.equal((await w.state(w.alice, id)).state, 'offered');
    assert.equal(logged('alice', 'DLC signed', id), 0);
  });

  it('with the peer network off: dlc.offer peer= and dlc.accept id= answer Unsupported, naming p2p.enable', async () => {
    const p = w.bob;
    p.ch.close();
    events.bob?.close();
    await p.d.kill();
    w.bob = { ...(await w.start('bob', false, ['-nop2p.enable'])), address: p.address };
    const [block] = await w.node.mine(1, w.bob.address);
    const oracle = makeOracle(enumDescriptor(['win', 'lose']), 1, 'wire-off', 'tagged', 1_600_000_000);
    const offer = await w.bob.ch.call('dlc.offer', winLoseOffer(hex(oracle.ann), 1000, 1, { utxos: [await w.coinbase(block!)], peer: key.alice }));
    const accept = await w.bob.ch.call('dlc.accept', { id: 'ab'.repeat(32) });
    for (const r of [offer, accept]) {
      assert.equal(r.error?.code, -32017);
      assert.match(r.error!.message, /p2p\.enable/);
    }
  });
});
