// Issue 26 review (an attacker's look at the state channels room's checks): a hand-written counterparty
// (channels-peer.ts) against a real anyad on a bcoin regtest chain.
//   A payment to anyad in a state the counterparty proposed is final only once the counterparty revokes the state
//   before: until then it can broadcast that earlier commitment (which anyad signed). anyad told its apps of the new
//   state (sc.channel with the new number) as soon as it acknowledged the update; a payer that never revokes then
//   took the payment back on chain while the payee's app had been told it was paid.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import * as bitcoin from 'bitcoinjs-lib';
import { commitmentTx, fundingSighash, fundingWitness, type ChannelState } from '../../src/adapters/channels/transactions.js';
import { startBcoin, type BcoinNode } from '../helpers/bcoin.js';
import { unixChannel, type Channel } from '../helpers/channel.js';
import { startDaemon, tempDir, type RunningDaemon } from '../helpers/daemon.js';
import { keystorePartyArgs } from '../helpers/keystore-party.js';
import { until } from '../helpers/until.js';
import { HandPeer } from '../peers/channels-peer.js';

interface Step {
  id: string;
  state: string;
  number: number;
  message: string | null;
}
interface View {
  state: string;
  number: number;
  pending: number | null;
  to_opener_sat: number;
  to_accepter_sat: number;
  closed_by: string | null;
  claim_txid: string | null;
}
type Note = { method?: string; params?: { topic?: string; data?: { id: string; number: number; state: string } } };

describe('state channels: what an attacker can still do (issue 26 review)', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let node: BcoinNode;
  let d: RunningDaemon;
  let ch: Channel;
  let address = '';

  async function call<T>(method: string, params?: unknown): Promise<T> {
    const r = await ch.call(method, params, undefined, 30_000);
    if (r.error) throw new Error(`${method}: ${r.error.code} ${r.error.message}`);
    return r.result as T;
  }
  const view = (id: string): Promise<View> => call('sc.get', { id });
  /** The sc.channel numbers of channel `id` delivered so far (they come on this connection before the answer of the call that made them). */
  const told = async (id: string): Promise<number[]> => {
    const out: number[] = [];
    for (;;) {
      const n = (await ch.next(1).catch(() => undefined)) as Note | undefined;
      if (!n) return out;
      if (n.params?.topic === 'sc.channel' && n.params.data?.id === id) out.push(n.params.data.number);
    }
  };

  before(async () => {
    dir = await tempDir();
    node = await startBcoin(dir.path);
    const pf = join(dir.path, 'alice.pass');
    await writeFile(pf, "alice's keystore passphrase\n", { mode: 0o600 });
    d = await startDaemon(join(dir.path, 'alice'), { args: keystorePartyArgs(node, pf) });
    ch = await unixChannel(d.socket);
    await until('connected', async () => ((await call<{ state: string }>('chain.getinfo')).state === 'connected' ? true : undefined));
    const key = await call<{ id: string }>('hsm.generatekey', { label: 'alice coins' });
    address = (await call<{ addresses: { p2wpkh: string } }>('hsm.getpubkey', { key: key.id })).addresses.p2wpkh;
  });
  after(async () => {
    ch?.close();
    await d?.kill();
    await node?.stop().catch(() => undefined);
    await dir?.remove();
  });

  it('a payment to anyad is reported (sc.channel) only once the payer revoked the state before: a payer that never revokes and broadcasts that state took nothing anyad said it had', async () => {
    const [block] = await node.mine(1, address);
    await node.mine(100);
    const coin = { txid: (await node.rpc<{ tx: string[] }>('getblock', block, true, false)).tx[0]!, vout: 0 };
    const peer = new HandPeer();
    const opened = await call<{ id: string; message: string }>('sc.open', { capacity_sat: 10_000_000, to_self_delay: 144, fee_rate_sat_vb: 2, utxos: [coin] });
    const id = opened.id;
    const created = await call<Step>('sc.receive', { message: peer.accept(opened.message, 144) });
    await call<Step>('sc.receive', { message: peer.fundingSigned(created.message!) });
    await node.mine(1);
    await until('the channel open', async () => ((await view(id)).state === 'open' ? true : undefined), 400);
    const avail = BigInt((await view(id)).to_opener_sat);
    const state = (n: number, toPeer: bigint): ChannelState => ({
      number: n,
      to_opener_sat: avail - toPeer,
      to_accepter_sat: toPeer,
      app_hash: '22'.repeat(32),
    });
    await call('subscribe', { topics: ['sc.channel'] });
    await told(id);

    // State 1: the peer takes 1,000,000 sat (Alice's app approves it), then revokes state 0 as it should.
    const ack1 = await call<Step>('sc.receive', { message: peer.update(state(1, 1_000_000n)), max_pay_sat: 1_000_000 });
    assert.deepEqual(await told(id), [], 'not final before the revoke of state 0');
    const ack1Body = peer.read(ack1.message!).body as { sig: string; next_point: string };
    peer.theirPoints[2] = ack1Body.next_point;
    peer.current = state(1, 1_000_000n);
    await call<Step>('sc.receive', {
      message: peer.message('revoke', { number: 0, secret: Buffer.from(peer.secret(0)).toString('hex'), next_point: peer.point(2) }),
    });
    assert.deepEqual(await told(id), [1], 'state 1 told once final');

    // State 2: the peer pays 600,000 sat back to Alice; Alice acknowledges it (her secret of state 1 goes out), but the
    // peer never revokes state 1.
    const ack2 = await call<Step>('sc.receive', { message: peer.update(state(2, 400_000n)) });
    assert.equal(ack2.number, 2);
    assert.deepEqual(await told(id), [], 'no sc.channel event for state 2: the payer can still use state 1 (before the fix: [2])');
    assert.equal((await view(id)).pending, 2, 'sc.get shows state 2 in flight');

    // The peer broadcasts its commitment of state 1 (Alice signed it in her first ack): valid, as state 1 is not
    // revoked. The 600,000 sat go back to the peer.
    const t = peer.terms();
    const c1 = commitmentTx(t, state(1, 1_000_000n), 'accepter', Buffer.from(peer.point(1), 'hex'));
    const peerSig = Buffer.from(secp256k1.sign(fundingSighash(c1, t), peer.priv.funding, { prehash: false, lowS: true, format: 'der' }));
    const sighashAll = Buffer.of(bitcoin.Transaction.SIGHASH_ALL);
    c1.setWitness(
      0,
      fundingWitness(t, { opener: Buffer.concat([Buffer.from(ack1Body.sig, 'hex'), sighashAll]), accepter: Buffer.concat([peerSig, sighashAll]) }),
    );
    await node.send(c1.toHex());
    await node.mine(1);
    // Alice's balance, the commitment's to_remote, is swept to her wallet once the commitment confirms; the channel is
    // closed when that sweep is.
    const sweep = await until('Alice sweeps her to_remote', async () => (await view(id)).claim_txid ?? undefined, 400);
    await node.mempoolWith([sweep]);
    await node.mine(1);
    await until('Alice sees the remote close', async () => ((await view(id)).state === 'closed' ? true : undefined), 400);
    const v = await view(id);
    assert.deepEqual(
      [v.closed_by, v.number, v.pending, v.to_opener_sat, v.to_accepter_sat],
      ['remote_unilateral', 1, null, Number(avail - 1_000_000n), 1_000_000],
      'the state that settled on chain (before the fix: number 2 and its balances)',
    );
    assert.ok(!(await told(id)).includes(2), 'state 2 was never reported final');
  });
});
