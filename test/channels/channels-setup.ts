// The setup the state-channel end-to-end tests share (channels.test.ts, channels-restarts.test.ts,
// channels-breach.test.ts): two anyad instances (Alice opens, Bob accepts), each with its own datadir and software
// keystore, on one bcoin regtest node, started before a describe's tests and stopped after them; and the steps those
// tests repeat, with the messages carried between the anyads by the test as an app would: open a channel, one state
// update, a channel's view, a transaction's outputs. Each test file has its own chain and anyads.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before } from 'node:test';
import * as bitcoin from 'bitcoinjs-lib';
import { startBcoin, type BcoinNode } from '../helpers/bcoin.js';
import { unixChannel, type Channel } from '../helpers/channel.js';
import { startDaemon, tempDir, type RunningDaemon } from '../helpers/daemon.js';
import { until } from '../helpers/until.js';
import { keystorePartyArgs } from '../helpers/keystore-party.js';

export interface Party {
  name: string;
  d: RunningDaemon;
  ch: Channel;
  address: string;
}
export interface Step {
  id: string;
  state: string;
  number: number;
  message: string | null;
  txid?: string;
  justice?: { hint: string; blob: string };
}
export interface AuditEntry {
  seq: number;
  event: string;
  detail: Record<string, unknown>;
}
export interface ChannelView {
  role: string;
  state: string;
  number: number;
  to_opener_sat: number;
  to_accepter_sat: number;
  fee_sat: number;
  closing_txid: string | null;
  closed_by: string | null;
  claim_txid: string | null;
  keys: { payment: string };
  payout: { close: string | null; their_close: string | null; claim: string | null };
  funding_txid: string;
}

/** The secret a message reveals (ack, revoke), and the state number it revokes. */
function revealedIn(message: string | null): { number: number; secret: string } | undefined {
  if (!message) return undefined;
  const m = JSON.parse(Buffer.from(message, 'hex').toString('utf8')) as { type: string; body: { number: number; secret?: string } };
  if (m.type === 'ack') return { number: m.body.number - 1, secret: m.body.secret! };
  if (m.type === 'revoke') return { number: m.body.number, secret: m.body.secret! };
  return undefined;
}

export const appHash = (i: number): string => createHash('sha256').update(`game move ${i}`).digest('hex');
export const CAPACITY = 100_000_000;
export const DELAY = 6;

export async function call<T>(p: Party, method: string, params?: unknown): Promise<T> {
  const r = await p.ch.call(method, params, undefined, 30_000);
  if (r.error) {
    const logs = JSON.stringify(p.d.logs.filter((l) => (l.level as number) >= 40).slice(-4));
    throw new Error(`${p.name} ${method}: ${r.error.code} ${r.error.message} ${logs}`);
  }
  return r.result as T;
}

/** The call fails with `code`, its message matching `re`. */
export async function refuses(p: Party, method: string, params: unknown, code: number, re: RegExp): Promise<void> {
  const r = await p.ch.call(method, params);
  assert.equal(r.error?.code, code, `${method}: ${JSON.stringify(r)}`);
  assert.match(r.error!.message, re);
}

/** Alice's and Bob's anyads on one regtest node; `alice` and `bob` are replaced when a test starts one again. */
export interface TwoAnyads {
  dir: { path: string; remove: () => Promise<void> };
  node: BcoinNode;
  alice: Party;
  bob: Party;
  /** Justice blobs the anyads answered (with -sc.justice), for a tower. */
  justices: Array<{ hint: string; blob: string }>;
  /** Every per-commitment secret revealed in the updates: which channel, who revealed it, who keeps it. */
  revealed: Array<{ channel: string; by: string; to: string; number: number; secret: string }>;
  /** A party's anyad; `again`: the same datadir started again (its keys and coins address kept). */
  start(name: string, again?: Party, extra?: string[]): Promise<Party>;
  view(p: Party, id: string): Promise<ChannelView>;
  waitState(p: Party, id: string, want: string): Promise<true>;
  inMempool(txid: string): Promise<true>;
  /** A mature coinbase of Alice's: one block to her, then 100 to Bob. */
  aliceCoin(): Promise<{ txid: string; vout: number }>;
  paymentAddress(p: Party, key: string): Promise<string>;
  outputsOf(txid: string): Promise<Array<{ address: string | null; value: number }>>;
  /** Open → accept → funding_created → funding_signed → funding broadcast → confirmed: both open. */
  openChannel(push?: number, capacity?: number): Promise<string>;
  /** The party's claim (sweep or penalty) once broadcast, mined, and the channel closed by it: its txid. */
  confirmClaim(p: Party, id: string): Promise<string>;
  /** Bob's anyad stopped, its datadir copied aside (an old backup), and started again. */
  keepOldBob(): Promise<void>;
  /** Bob's anyad stopped and put back to the copy keepOldBob made (a breach waiting to happen), started again. */
  restoreOldBob(): Promise<void>;
  /**
   * One state: the proposer's update, the other's ack, the proposer's revoke, taken by the other. The receiver's
   * app approves exactly the payment out of its balance the test intends (a state lowering it needs max_pay_sat).
   */
  update(id: string, from: Party, to: Party, toOpener: number, toAccepter: number, app: string): Promise<number>;
}

/**
 * Starts the node and both anyads before the enclosing describe's tests, stops them after; call inside describe.
 * `args`: given to every anyad the suite starts (e.g. -nowallet.enable: the wallet room off).
 */
export function twoAnyads(args: string[] = []): TwoAnyads {
  const w = { justices: [], revealed: [] } as unknown as TwoAnyads;
  w.start = async (name, again, extra = []) => {
    const fresh = !again;
    const pf = join(w.dir.path, `${name}.pass`);
    if (fresh) await writeFile(pf, `${name}'s keystore passphrase\n`, { mode: 0o600 });
    // A 6-block to_self_delay keeps the sweep and breach tests short: under the default floor of 144, so lowered.
    const d = await startDaemon(join(w.dir.path, name), {
      args: keystorePartyArgs(w.node, pf, [`-sc.mintoselfdelay=${DELAY}`, ...args, ...extra]),
    });
    const ch = await unixChannel(d.socket);
    const party: Party = { name, d, ch, address: again?.address ?? '' };
    await until(`${name} connected to the node`, async () =>
      (await call<{ state: string }>(party, 'chain.getinfo')).state === 'connected' ? true : undefined,
    );
    if (!fresh) return party;
    const key = await call<{ id: string }>(party, 'hsm.generatekey', { label: `${name} coins` });
    party.address = (await call<{ addresses: { p2wpkh: string } }>(party, 'hsm.getpubkey', { key: key.id })).addresses.p2wpkh;
    return party;
  };
  w.view = (p, id) => call(p, 'sc.get', { id });
  w.waitState = (p, id, want) =>
    until(`${p.name}'s channel ${want}`, async () => ((await w.view(p, id)).state === want ? true : undefined), 800).catch(async (err: Error) => {
      throw new Error(`${err.message} (it is ${(await w.view(p, id)).state}); ${JSON.stringify(p.d.logs.filter((l) => (l.level as number) >= 40).slice(-5))}`);
    });
  w.inMempool = (txid) => until(`${txid} in the node's mempool`, async () => ((await w.node.rpc<string[]>('getrawmempool')).includes(txid) ? true : undefined));
  w.aliceCoin = async () => {
    const [block] = await w.node.mine(1, w.alice.address);
    await w.node.mine(100, w.bob.address);
    const b = await w.node.rpc<{ tx: string[] }>('getblock', block, true, false);
    return { txid: b.tx[0]!, vout: 0 };
  };
  w.paymentAddress = async (p, key) => (await call<{ addresses: { p2wpkh: string } }>(p, 'hsm.getpubkey', { key })).addresses.p2wpkh;
  w.outputsOf = async (txid) =>
    bitcoin.Transaction.fromHex(await w.node.rpc<string>('getrawtransaction', txid, false)).outs.map((o) => {
      let address: string | null = null;
      try {
        address = bitcoin.address.fromOutputScript(o.script, bitcoin.networks.regtest);
      } catch {
        address = null; // the OP_RETURN of the app data
      }
      return { address, value: Number(o.value) };
    });
  w.openChannel = async (push = 0, capacity = CAPACITY) => {
    const utxos = [await w.aliceCoin()];
    const opened = await call<{ id: string; message: string }>(w.alice, 'sc.open', {
      capacity_sat: capacity,
      push_sat: push,
      to_self_delay: DELAY,
      fee_rate_sat_vb: 2,
      app_hash: appHash(0),
      utxos,
    });
    // Each side sets the delay the other waits (BOLT 2): Bob requires the same of Alice.
    const accepted = await call<{ message: string }>(w.bob, 'sc.accept', { message: opened.message, to_self_delay: DELAY });
    const created = await call<Step>(w.alice, 'sc.receive', { message: accepted.message });
    assert.equal(created.state, 'funding');
    const signed = await call<Step>(w.bob, 'sc.receive', { message: created.message });
    const funded = await call<Step>(w.alice, 'sc.receive', { message: signed.message });
    assert.ok(funded.txid, 'the funding broadcast once both first commitments are signed');
    await w.inMempool(funded.txid);
    await w.node.mine(1, w.bob.address);
    await w.waitState(w.alice, opened.id, 'open');
    await w.waitState(w.bob, opened.id, 'open');
    // The hand-picked coin was promised to the channel by Alice's wallet; the confirmed funding ends the promise.
    // (Released just after the state is saved open: looked at until then, 10 s at most.)
    for (let i = 0; ; i++) {
      const promised = (await w.alice.ch.call('wallet.listreservations')) as { result?: Array<{ holder: string }> };
      if (!promised.result?.some((r) => r.holder === `sc:${opened.id}`)) break;
      assert.ok(i < 200, 'the funding coin is no longer promised once the funding confirmed');
      await new Promise((r) => setTimeout(r, 50));
    }
    return opened.id;
  };
  w.confirmClaim = async (p, id) => {
    const txid = await until(`${p.name}'s claim`, async () => (await w.view(p, id)).claim_txid ?? undefined, 400);
    await w.inMempool(txid);
    await w.node.mine(1, w.alice.address);
    await w.waitState(p, id, 'closed');
    return txid;
  };
  w.keepOldBob = async () => {
    w.bob.ch.close();
    await w.bob.d.kill();
    await cp(join(w.dir.path, 'bob'), join(w.dir.path, 'bob-old'), { recursive: true });
    w.bob = await w.start('bob', w.bob);
  };
  w.restoreOldBob = async () => {
    w.bob.ch.close();
    await w.bob.d.kill();
    await rm(join(w.dir.path, 'bob'), { recursive: true });
    await cp(join(w.dir.path, 'bob-old'), join(w.dir.path, 'bob'), { recursive: true });
    await rm(join(w.dir.path, 'bob-old'), { recursive: true });
    w.bob = await w.start('bob', w.bob);
  };
  w.update = async (id, from, to, toOpener, toAccepter, app) => {
    const before = await w.view(to, id);
    const pays = Math.max(0, before.role === 'opener' ? before.to_opener_sat - toOpener : before.to_accepter_sat - toAccepter);
    const u = await call<{ number: number; message: string }>(from, 'sc.update', { id, to_opener_sat: toOpener, to_accepter_sat: toAccepter, app_hash: app });
    const ack = await call<Step>(to, 'sc.receive', { message: u.message, ...(pays > 0 ? { max_pay_sat: pays } : {}) });
    const revoke = await call<Step>(from, 'sc.receive', { message: ack.message });
    const done = await call<Step>(to, 'sc.receive', { message: revoke.message });
    assert.equal(done.message, null);
    for (const r of [revoke, done]) if (r.justice) w.justices.push(r.justice);
    // The ack's secret is taken by the proposer, the revoke's by the receiver.
    w.revealed.push({ channel: id, by: to.name, to: from.name, ...revealedIn(ack.message)! });
    w.revealed.push({ channel: id, by: from.name, to: to.name, ...revealedIn(revoke.message)! });
    return u.number;
  };

  before(async () => {
    w.dir = await tempDir();
    w.node = await startBcoin(w.dir.path);
    w.alice = await w.start('alice');
    w.bob = await w.start('bob');
  });
  after(async () => {
    w.alice?.ch.close();
    w.bob?.ch.close();
    await w.alice?.d.kill();
    await w.bob?.d.kill();
    await w.node?.stop().catch(() => undefined);
    await w.dir?.remove();
  });
  return w;
}
