// The state channels room end to end: two anyad instances (Alice opens, Bob accepts), each with its own datadir and
// software keystore, on one bcoin regtest node; messages carried between them by this test as an app would.
// Open (the first commitments signed before the funding is broadcast), 1,000 updates with app data, cooperative
// close with exact balances; a unilateral close swept after the delay; a breach (Bob's anyad restored from an old
// copy of its datadir broadcasts a revoked state) punished by Alice online — at once, from the mempool — and by
// Alice coming back from downtime inside the window. Refusals: validator rules, messages for another channel or
// network, changed and replayed messages.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as bitcoin from 'bitcoinjs-lib';
import { startBcoin, type BcoinNode } from '../helpers/bcoin.js';
import { unixChannel, type Channel } from '../helpers/channel.js';
import { startDaemon, tempDir, type RunningDaemon } from '../helpers/daemon.js';
import { until } from '../helpers/until.js';
import { keystorePartyArgs } from '../helpers/keystore-party.js';
import { Store } from '../../src/store/store.js';
import { STATE_RECORD } from '../../src/daemon/state.js';
import { MAX_INDEX, SecretStore } from '../../src/adapters/channels/shachain.js';

interface Party {
  name: string;
  d: RunningDaemon;
  ch: Channel;
  address: string;
}
interface Step {
  id: string;
  state: string;
  number: number;
  message: string | null;
  txid?: string;
  justice?: { hint: string; blob: string };
}
interface AuditEntry {
  seq: number;
  event: string;
  detail: Record<string, unknown>;
}
interface ChannelView {
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
  funding_txid: string;
}

/** The forms a 32-byte secret could take in a file: hex (either case), raw, base64. */
function forms(secret: string): Buffer[] {
  const raw = Buffer.from(secret, 'hex');
  return [Buffer.from(secret), Buffer.from(secret.toUpperCase()), raw, Buffer.from(raw.toString('base64')), Buffer.from(raw.toString('base64url'))];
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** The files under `dir` holding any form of any of the secrets (a backup's base64 entries decoded too). */
async function filesHolding(dir: string, secrets: string[]): Promise<string[]> {
  const found: string[] = [];
  for (const f of await filesUnder(dir)) {
    // A running anyad renames temporary files into place (the state record): one gone since the listing is skipped.
    const data = await readFile(f).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return Buffer.alloc(0);
      throw err;
    });
    const parts = [data];
    for (const line of data.toString('utf8').split('\n')) {
      try {
        const v = JSON.parse(line) as unknown;
        if (Array.isArray(v)) for (const x of v) if (typeof x === 'string') parts.push(Buffer.from(x, 'base64'));
        if (v && typeof v === 'object' && 'data' in v) parts.push(Buffer.from(String((v as { data: unknown }).data), 'base64'));
      } catch {
        // not a JSON line
      }
    }
    const all = Buffer.concat(parts);
    if (secrets.some((s) => forms(s).some((x) => all.includes(x)))) found.push(f);
  }
  return found;
}

/** The secret a message reveals (ack, revoke), and the state number it revokes. */
function revealedIn(message: string | null): { number: number; secret: string } | undefined {
  if (!message) return undefined;
  const m = JSON.parse(Buffer.from(message, 'hex').toString('utf8')) as { type: string; body: { number: number; secret?: string } };
  if (m.type === 'ack') return { number: m.body.number - 1, secret: m.body.secret! };
  if (m.type === 'revoke') return { number: m.body.number, secret: m.body.secret! };
  return undefined;
}

const appHash = (i: number): string => createHash('sha256').update(`game move ${i}`).digest('hex');
const CAPACITY = 100_000_000;
const DELAY = 6;

async function call<T>(p: Party, method: string, params?: unknown): Promise<T> {
  const r = await p.ch.call(method, params, undefined, 30_000);
  if (r.error) {
    const logs = JSON.stringify(p.d.logs.filter((l) => (l.level as number) >= 40).slice(-4));
    throw new Error(`${p.name} ${method}: ${r.error.code} ${r.error.message} ${logs}`);
  }
  return r.result as T;
}

describe('state channels: two anyads, one regtest chain', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let node: BcoinNode;
  let alice: Party;
  let bob: Party;

  /** A party's anyad; `again`: the same datadir started again (its keys and coins address kept). */
  const start = async (name: string, again?: Party, extra: string[] = []): Promise<Party> => {
    const fresh = !again;
    const pf = join(dir.path, `${name}.pass`);
    if (fresh) await writeFile(pf, `${name}'s keystore passphrase\n`, { mode: 0o600 });
    // A 6-block to_self_delay keeps the sweep and breach tests short: under the default floor of 144, so lowered.
    const d = await startDaemon(join(dir.path, name), {
      args: keystorePartyArgs(node, pf, [`-sc.mintoselfdelay=${DELAY}`, ...extra]),
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
  const view = (p: Party, id: string): Promise<ChannelView> => call(p, 'sc.get', { id });
  const waitState = (p: Party, id: string, want: string): Promise<true> =>
    until(`${p.name}'s channel ${want}`, async () => ((await view(p, id)).state === want ? true : undefined), 800).catch(async (err: Error) => {
      throw new Error(`${err.message} (it is ${(await view(p, id)).state}); ${JSON.stringify(p.d.logs.filter((l) => (l.level as number) >= 40).slice(-5))}`);
    });
  const inMempool = (txid: string): Promise<true> =>
    until(`${txid} in the node's mempool`, async () => ((await node.rpc<string[]>('getrawmempool')).includes(txid) ? true : undefined));
  /** A mature coinbase of Alice's: one block to her, then 100 to Bob. */
  const aliceCoin = async (): Promise<{ txid: string; vout: number }> => {
    const [block] = await node.mine(1, alice.address);
    await node.mine(100, bob.address);
    const b = await node.rpc<{ tx: string[] }>('getblock', block, true, false);
    return { txid: b.tx[0]!, vout: 0 };
  };
  const paymentAddress = async (p: Party, key: string): Promise<string> =>
    (await call<{ addresses: { p2wpkh: string } }>(p, 'hsm.getpubkey', { key })).addresses.p2wpkh;
  const outputsOf = async (txid: string): Promise<Array<{ address: string | null; value: number }>> =>
    bitcoin.Transaction.fromHex(await node.rpc<string>('getrawtransaction', txid, false)).outs.map((o) => {
      let address: string | null = null;
      try {
        address = bitcoin.address.fromOutputScript(o.script, bitcoin.networks.regtest);
      } catch {
        address = null; // the OP_RETURN of the app data
      }
      return { address, value: Number(o.value) };
    });

  /** Open → accept → funding_created → funding_signed → funding broadcast → confirmed: both open. */
  const openChannel = async (push = 0, capacity = CAPACITY): Promise<string> => {
    const utxos = [await aliceCoin()];
    const opened = await call<{ id: string; message: string }>(alice, 'sc.open', {
      capacity_sat: capacity,
      push_sat: push,
      to_self_delay: DELAY,
      fee_rate_sat_vb: 2,
      app_hash: appHash(0),
      utxos,
    });
    // Each side sets the delay the other waits (BOLT 2): Bob requires the same of Alice.
    const accepted = await call<{ message: string }>(bob, 'sc.accept', { message: opened.message, to_self_delay: DELAY });
    const created = await call<Step>(alice, 'sc.receive', { message: accepted.message });
    assert.equal(created.state, 'funding');
    const signed = await call<Step>(bob, 'sc.receive', { message: created.message });
    const funded = await call<Step>(alice, 'sc.receive', { message: signed.message });
    assert.ok(funded.txid, 'the funding broadcast once both first commitments are signed');
    await inMempool(funded.txid);
    await node.mine(1, bob.address);
    await waitState(alice, opened.id, 'open');
    await waitState(bob, opened.id, 'open');
    return opened.id;
  };
  /**
   * One state: the proposer's update, the other's ack, the proposer's revoke, taken by the other. The receiver's
   * app approves exactly the payment out of its balance the test intends (a state lowering it needs max_pay_sat).
   */
  const update = async (id: string, from: Party, to: Party, toOpener: number, toAccepter: number, app: string): Promise<number> => {
    const before = await view(to, id);
    const pays = Math.max(0, before.role === 'opener' ? before.to_opener_sat - toOpener : before.to_accepter_sat - toAccepter);
    const u = await call<{ number: number; message: string }>(from, 'sc.update', { id, to_opener_sat: toOpener, to_accepter_sat: toAccepter, app_hash: app });
    const ack = await call<Step>(to, 'sc.receive', { message: u.message, ...(pays > 0 ? { max_pay_sat: pays } : {}) });
    const revoke = await call<Step>(from, 'sc.receive', { message: ack.message });
    const done = await call<Step>(to, 'sc.receive', { message: revoke.message });
    assert.equal(done.message, null);
    for (const r of [revoke, done]) if (r.justice) justices.push(r.justice);
    // The ack's secret is taken by the proposer, the revoke's by the receiver.
    revealed.push({ channel: id, by: to.name, to: from.name, ...revealedIn(ack.message)! });
    revealed.push({ channel: id, by: from.name, to: to.name, ...revealedIn(revoke.message)! });
    return u.number;
  };

  /** Justice blobs the anyads answered (with -sc.justice), for a tower. */
  const justices: Array<{ hint: string; blob: string }> = [];
  /** Every per-commitment secret revealed in the updates: which channel, who revealed it, who keeps it. */
  const revealed: Array<{ channel: string; by: string; to: string; number: number; secret: string }> = [];

  before(async () => {
    dir = await tempDir();
    node = await startBcoin(dir.path);
    alice = await start('alice');
    bob = await start('bob');
  });
  after(async () => {
    alice?.ch.close();
    bob?.ch.close();
    await alice?.d.kill();
    await bob?.d.kill();
    await node?.stop().catch(() => undefined);
    await dir?.remove();
  });

  it('open, 1,000 updates with app data, cooperative close: the final balances exact on chain', async () => {
    const id = await openChannel();
    const first = await view(alice, id);
    const avail = CAPACITY - first.fee_sat;
    assert.deepEqual([first.number, first.to_opener_sat, first.to_accepter_sat], [0, avail, 0]);
    await call(bob, 'subscribe', { topics: ['sc.channel'] });
    let last = 0;
    for (let i = 1; i <= 1000; i++) {
      // Either party proposes; Bob's balance moves up and down.
      const toAccepter = (i % 7) * 1_000_000 + i * 10_000;
      const [from, to] = i % 2 === 1 ? [alice, bob] : [bob, alice];
      last = await update(id, from, to, avail - toAccepter, toAccepter, appHash(i));
    }
    assert.equal(last, 1000);
    const [a, b] = await Promise.all([view(alice, id), view(bob, id)]);
    const want = (1000 % 7) * 1_000_000 + 1000 * 10_000;
    for (const v of [a, b]) assert.deepEqual([v.number, v.to_accepter_sat, v.to_opener_sat, v.state], [1000, want, avail - want, 'open']);
    // Bob's sc.channel events: every state number, in order.
    const numbers: number[] = [];
    while (numbers.at(-1) !== 1000) {
      const n = (await bob.ch.next(5000)) as { params?: { topic: string; data: { number: number } } };
      if (n.params?.topic === 'sc.channel') numbers.push(n.params.data.number);
    }
    assert.deepEqual(
      numbers.filter((x, i) => numbers.indexOf(x) === i),
      Array.from({ length: 1000 }, (_, i) => i + 1),
    );

    // Cooperative close: Alice proposes, Bob's anyad signs and broadcasts.
    const close = await call<{ message: string }>(alice, 'sc.close', { id });
    const closed = await call<Step>(bob, 'sc.receive', { message: close.message });
    assert.ok(closed.txid);
    await inMempool(closed.txid);
    await node.mine(1, bob.address);
    await waitState(alice, id, 'closed');
    await waitState(bob, id, 'closed');
    const outs = await outputsOf(closed.txid);
    const aliceTo = await paymentAddress(alice, a.keys.payment);
    const bobTo = await paymentAddress(bob, b.keys.payment);
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
    assert.equal((await view(bob, id)).closed_by, 'cooperative');
  });

  it('a unilateral close: the commitment confirms, the to_local output is swept to the keystore after the delay', async () => {
    const id = await openChannel(20_000_000);
    const avail = CAPACITY - (await view(alice, id)).fee_sat;
    // Through l2.* as well: the same update as an l2.submit of protocol "statechannel", the channel by l2.status.
    const viaL2 = await call<{ detail: { result: { message: string } } }>(alice, 'l2.submit', {
      protocol: 'statechannel',
      operation: 'update',
      params: { id, to_opener_sat: avail - 30_000_000, to_accepter_sat: 30_000_000, app_hash: appHash(1) },
    });
    const ack = await call<Step>(bob, 'sc.receive', { message: viaL2.detail.result.message });
    const rev = await call<{ detail: { result: Step } }>(alice, 'l2.submit', {
      protocol: 'statechannel',
      operation: 'receive',
      params: { message: ack.message },
    });
    await call(bob, 'sc.receive', { message: rev.detail.result.message });
    const st = await call<{ status: string; detail: { number: number; to_accepter_sat: number } }>(bob, 'l2.status', { protocol: 'statechannel', id });
    assert.deepEqual([st.status, st.detail.number, st.detail.to_accepter_sat], ['open', 1, 30_000_000]);
    const forced = await call<{ txid: string; number: number }>(bob, 'sc.forceclose', { id });
    assert.equal(forced.number, 1);
    await inMempool(forced.txid);
    await node.mine(1, alice.address);
    // Alice's balance is in the commitment's to_remote, hers at once.
    await waitState(alice, id, 'closed');
    assert.equal((await view(alice, id)).closed_by, 'remote_unilateral');
    await node.mine(DELAY - 2, alice.address);
    assert.equal((await view(bob, id)).state, 'force_closing', 'nothing is swept before the delay');
    await node.mine(1, alice.address);
    const sweep = await until('the sweep', async () => (await view(bob, id)).claim_txid ?? undefined, 400);
    await inMempool(sweep);
    await node.mine(1, alice.address);
    await waitState(bob, id, 'closed');
    const outs = await outputsOf(sweep);
    assert.equal(outs.length, 1);
    assert.equal(outs[0]!.address, await paymentAddress(bob, (await view(bob, id)).keys.payment));
    assert.ok(outs[0]!.value > 30_000_000 - 1000 && outs[0]!.value < 30_000_000);
  });

  it('revealed secrets at rest: none in either datadir nor in a backup; a record an earlier anyad kept in clear is sealed at start (issue 26)', async () => {
    const id = await openChannel();
    const avail = CAPACITY - (await view(alice, id)).fee_sat;
    for (const [i, toBob] of [10_000_000, 20_000_000, 15_000_000, 30_000_000].entries())
      await (i % 2 === 0 ? update(id, alice, bob, avail - toBob, toBob, appHash(i)) : update(id, bob, alice, avail - toBob, toBob, appHash(i)));
    const secrets = revealed.filter((r) => r.channel === id);
    assert.equal(secrets.length, 8);
    for (const p of [alice, bob]) await call(p, 'backup', [`secrets-${p.name}.backup`]);
    for (const p of [alice, bob])
      assert.deepEqual(
        await filesHolding(
          p.d.datadir,
          secrets.map((r) => r.secret),
        ),
        [],
        `no revealed secret in any file of ${p.name}'s datadir or backup`,
      );

    // What an earlier anyad kept: Alice's record of the channel with Bob's revealed secrets in clear.
    alice.ch.close();
    await alice.d.kill();
    const netdir = join(alice.d.datadir, 'regtest');
    const fromBob = secrets.filter((r) => r.to === 'alice');
    const old = await Store.open(join(netdir, 'state'), { recordFile: join(netdir, STATE_RECORD) });
    try {
      const db = await old.room('channels');
      const rec = (await db.get(`c:${id}`)) as { their_secrets: unknown[] };
      const clear = new SecretStore();
      for (const r of fromBob) clear.insert(Buffer.from(r.secret, 'hex'), MAX_INDEX - BigInt(r.number));
      await old.batch([{ type: 'put', sublevel: db, key: `c:${id}`, value: { ...rec, their_secrets: clear.save() } }], { sync: true });
    } finally {
      await old.close();
    }
    assert.notDeepEqual(
      await filesHolding(
        alice.d.datadir,
        fromBob.map((r) => r.secret),
      ),
      [],
      'the clear record is on disk to begin with',
    );
    alice = await start('alice', alice);
    await alice.d.waitForLog((l) => l.msg === 'revealed channel secrets kept in clear sealed by the HSM room');
    assert.deepEqual(
      await filesHolding(
        alice.d.datadir,
        fromBob.map((r) => r.secret),
      ),
      [],
      'the clear copies left the LevelDB files',
    );
    // The sealed store still holds them: Bob's next secrets are checked against them (BOLT 3) and taken.
    await update(id, alice, bob, avail - 25_000_000, 25_000_000, appHash(5));
    await update(id, bob, alice, avail - 35_000_000, 35_000_000, appHash(6));
    assert.equal((await view(alice, id)).number, 6);
    // A secret revealed while the keystore is locked is refused (Locked): neither kept in clear nor lost, the same
    // message is taken once the keystore is unlocked.
    const u = await call<{ message: string }>(alice, 'sc.update', { id, to_opener_sat: avail - 36_000_000, to_accepter_sat: 36_000_000, app_hash: appHash(7) });
    const ack = await call<Step>(bob, 'sc.receive', { message: u.message });
    await call(alice, 'hsm.lock');
    await refuses(alice, 'sc.receive', { message: ack.message }, -32012, /./);
    await call(alice, 'hsm.unlock', { passphrase: "alice's keystore passphrase", timeout: 0 });
    const revoke = await call<Step>(alice, 'sc.receive', { message: ack.message });
    assert.equal((await call<Step>(bob, 'sc.receive', { message: revoke.message })).message, null);
    assert.deepEqual([(await view(alice, id)).number, (await view(bob, id)).number], [7, 7]);
  });

  const refuses = async (p: Party, method: string, params: unknown, code: number, re: RegExp): Promise<void> => {
    const r = await p.ch.call(method, params);
    assert.equal(r.error?.code, code, `${method}: ${JSON.stringify(r)}`);
    assert.match(r.error!.message, re);
  };
  /**
   * Open → accept → funding_created (its coinbase input just mature) → funding_signed after the chain's tip was
   * taken back (invalidateblock): the coin is immature again, so the node does not take the funding for a block.
   */
  const openImmature = async (): Promise<{ id: string; txid: string }> => {
    const [block] = await node.mine(1, alice.address);
    await node.mine(99, bob.address);
    const b = await node.rpc<{ tx: string[] }>('getblock', block, true, false);
    const opened = await call<{ id: string; message: string }>(alice, 'sc.open', {
      capacity_sat: CAPACITY,
      push_sat: 0,
      to_self_delay: DELAY,
      fee_rate_sat_vb: 2,
      utxos: [{ txid: b.tx[0]!, vout: 0 }],
    });
    const accepted = await call<{ message: string }>(bob, 'sc.accept', { message: opened.message, to_self_delay: DELAY });
    const created = await call<Step>(alice, 'sc.receive', { message: accepted.message });
    const signed = await call<Step>(bob, 'sc.receive', { message: created.message });
    await node.rpc('invalidateblock', await node.rpc<string>('getbestblockhash'));
    // The broadcast is refused (a premature spend of a coinbase) or dropped: the channel stays in funding.
    await alice.ch.call('sc.receive', { message: signed.message }, undefined, 30_000);
    const v = await view(alice, opened.id);
    assert.equal(v.state, 'funding');
    assert.equal((await node.rpc<string[]>('getrawmempool')).includes(v.funding_txid), false, 'the node did not take the funding');
    return { id: opened.id, txid: v.funding_txid };
  };

  it('a funding the node did not take is sent again at each block; sc.cancel refuses while it is in the mempool', async () => {
    const { id, txid } = await openImmature();
    // The next block makes the coin mature: Alice's anyad sends the funding again, and it stays pending.
    await node.mine(1, bob.address);
    await inMempool(txid);
    await refuses(alice, 'sc.cancel', { id }, -32014, /is in the mempool; it cannot be cancelled/);
    await node.mine(1, bob.address);
    await waitState(alice, id, 'open');
    await waitState(bob, id, 'open');
    await refuses(alice, 'sc.cancel', { id }, -32014, /only a channel whose funding was never signed/);
  });

  it('a cancelled channel whose funding appears later is followed again', async () => {
    const { id, txid } = await openImmature();
    // A copy of Alice's anyad as it is now (a backup restored elsewhere, or a node that took the funding after all).
    alice.ch.close();
    await alice.d.kill();
    await cp(join(dir.path, 'alice'), join(dir.path, 'alice-twin'), { recursive: true });
    await cp(join(dir.path, 'alice.pass'), join(dir.path, 'alice-twin.pass'));
    alice = await start('alice', alice);
    // Unknown to the node and its coin unspent: the cancel is allowed.
    assert.equal((await call<{ state: string }>(alice, 'sc.cancel', { id })).state, 'cancelled');
    const twin = await start('alice-twin', alice);
    try {
      await node.mine(1, bob.address);
      await inMempool(txid);
      await node.mine(1, bob.address);
      await waitState(alice, id, 'open');
      assert.ok(alice.d.logs.some((l) => l.id === id && /followed again/.test(String(l.msg))));
    } finally {
      twin.ch.close();
      await twin.d.kill();
    }
  });

  /** A channel where Bob's anyad is put back to an old copy of its datadir, made at state 1 (Bob had 40M then, 10M now). */
  const breachSetup = async (beforeBreach?: () => Promise<void>): Promise<{ id: string; revokedTxid: string; avail: number }> => {
    const id = await openChannel();
    const avail = CAPACITY - (await view(alice, id)).fee_sat;
    await update(id, alice, bob, avail - 40_000_000, 40_000_000, appHash(1));
    bob.ch.close();
    await bob.d.kill();
    await cp(join(dir.path, 'bob'), join(dir.path, 'bob-old'), { recursive: true });
    bob = await start('bob', bob);
    await update(id, bob, alice, avail - 20_000_000, 20_000_000, appHash(2));
    await update(id, alice, bob, avail - 10_000_000, 10_000_000, appHash(3));
    bob.ch.close();
    await bob.d.kill();
    await rm(join(dir.path, 'bob'), { recursive: true });
    await cp(join(dir.path, 'bob-old'), join(dir.path, 'bob'), { recursive: true });
    await rm(join(dir.path, 'bob-old'), { recursive: true });
    bob = await start('bob', bob);
    assert.equal((await view(bob, id)).number, 1, "Bob's anyad believes state 1 is the latest");
    await beforeBreach?.();
    const forced = await call<{ txid: string; number: number }>(bob, 'sc.forceclose', { id });
    return { id, revokedTxid: forced.txid, avail };
  };
  /** The penalty and the revoked commitment's to_remote pay Alice every satoshi but the fees. */
  const assertPunished = async (id: string, revokedTxid: string, avail: number): Promise<void> => {
    const v = await view(alice, id);
    assert.deepEqual([v.state, v.closed_by], ['closed', 'penalty']);
    const aliceTo = await paymentAddress(alice, v.keys.payment);
    const commitment = await outputsOf(revokedTxid);
    const toRemote = commitment.find((o) => o.address === aliceTo)!;
    assert.equal(toRemote.value, avail - 40_000_000, "state 1's to_remote: Alice's balance then");
    // The penalty that confirmed (a bumped one may have been sent after it).
    const penaltyTxid = await until('the confirmed penalty', async () => {
      for (const txid of alice.d.logs.filter((l) => l.msg === 'channel penalty broadcast' && l.id === id).map((l) => l.txid as string)) {
        const t = await node.rpc<{ confirmations?: number }>('getrawtransaction', txid, true).catch(() => undefined);
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
    alice.d.logs
      .filter((l) => l.msg === 'channel penalty broadcast' && l.id === id)
      .map((l) => l.txid as string)
      .at(-1);

  it('a breach: a revoked state broadcast by the counterparty is punished at once from the mempool, all funds to the victim', async () => {
    const { id, revokedTxid, avail } = await breachSetup();
    // Alice's anyad sees the revoked commitment in the mempool and sends the penalty before any block.
    await inMempool(revokedTxid);
    const penalty = await until('the penalty in the mempool', async () => {
      const txid = await lastPenalty(id);
      return txid && (await node.rpc<string[]>('getrawmempool')).includes(txid) ? txid : undefined;
    });
    assert.equal((await view(alice, id)).state, 'penalizing');
    await node.mine(1, alice.address);
    await waitState(alice, id, 'closed');
    assert.ok((await outputsOf(penalty)).length === 1);
    await assertPunished(id, revokedTxid, avail);
  });

  it('a breach while the victim is down is punished when it comes back inside the window', async () => {
    const { id, revokedTxid, avail } = await breachSetup(async () => {
      alice.ch.close();
      await alice.d.kill();
    });
    await inMempool(revokedTxid);
    await node.mine(2, bob.address);
    alice = await start('alice', alice);
    await node.mine(1, bob.address);
    const penalty = await until('the penalty after the restart', async () => {
      const txid = await lastPenalty(id);
      return txid && (await node.rpc<string[]>('getrawmempool')).includes(txid) ? txid : undefined;
    });
    await node.mine(1, bob.address);
    await waitState(alice, id, 'closed');
    assert.ok(penalty);
    await assertPunished(id, revokedTxid, avail);
  });

  it('a breach while the victim stays offline is punished by a third anyad holding its justice blobs as a tower', async () => {
    alice.ch.close();
    await alice.d.kill();
    alice = await start('alice', alice, ['-sc.justice']);
    const carol = await start('carol');
    try {
      justices.length = 0;
      const { id, revokedTxid, avail } = await breachSetup(async () => {
        // Every revoked state of Bob's gave Alice's anyad a blob; her app handed them to Carol's, then Alice left.
        assert.ok(justices.length >= 2, `blobs for Bob's revoked states 0..2 (${justices.length})`);
        // All at once, each twice over Carol's socket: every blob held once.
        const held = await Promise.all([...justices, ...justices].map((j) => call<{ watched: number }>(carol, 'sc.towerwatch', j)));
        assert.equal(Math.max(...held.map((h) => h.watched)), new Set(justices.map((j) => j.hint)).size);
        alice.ch.close();
        await alice.d.kill();
      });
      assert.ok(
        justices.some((j) => revokedTxid.startsWith(j.hint)),
        'a blob names the revoked commitment',
      );
      await call(carol, 'subscribe', { topics: ['sc.tower'] });
      await inMempool(revokedTxid);
      await node.mine(1, bob.address);
      const ev = (await until('the tower event', async () => {
        const n = (await carol.ch.next(10_000)) as { params?: { topic: string; data: { breach_txid: string; penalty_txid: string } } };
        return n.params?.topic === 'sc.tower' ? n.params.data : undefined;
      })) as { breach_txid: string; penalty_txid: string };
      assert.equal(ev.breach_txid, revokedTxid);
      await inMempool(ev.penalty_txid);
      await node.mine(1, bob.address);
      // Alice comes back: her channel is closed by the penalty the tower sent, every satoshi hers but the fees.
      alice = await start('alice', alice);
      const v = await view(alice, id);
      const aliceTo = await paymentAddress(alice, v.keys.payment);
      const penalty = await outputsOf(ev.penalty_txid);
      assert.deepEqual(
        penalty.map((o) => o.address),
        [aliceTo],
      );
      assert.ok(penalty[0]!.value > 40_000_000 - 5_000);
      assert.equal((await outputsOf(revokedTxid)).find((o) => o.address === aliceTo)?.value, avail - 40_000_000);
      await node.mine(1, bob.address);
      await waitState(alice, id, 'closed');
      assert.equal((await view(alice, id)).closed_by, 'penalty');
    } finally {
      carol.ch.close();
      await carol.d.kill();
    }
  });

  it('refuses: states breaking a rule, messages changed, replayed, for another channel or another network', async () => {
    const id = await openChannel();
    const avail = CAPACITY - (await view(alice, id)).fee_sat;
    const refused = async (p: Party, method: string, params: unknown, code: number, re: RegExp): Promise<void> => {
      const r = await p.ch.call(method, params);
      assert.equal(r.error?.code, code, `${method}: ${JSON.stringify(r)}`);
      assert.match(r.error!.message, re);
    };
    await refused(alice, 'sc.update', { id, to_opener_sat: avail, to_accepter_sat: 1 }, -32602, /add up to .*capacity minus the commitment fee/);
    await refused(alice, 'sc.update', { id, to_opener_sat: avail - 100, to_accepter_sat: 100 }, -32602, /accepter's balance of 100 sat is dust/);
    const u = await call<{ message: string }>(alice, 'sc.update', { id, to_opener_sat: avail - 5_000_000, to_accepter_sat: 5_000_000 });
    await refused(alice, 'sc.update', { id, to_opener_sat: avail, to_accepter_sat: 0 }, -32014, /in flight/);
    // The update changed on the way: the balances, the channel, the network.
    const env = JSON.parse(Buffer.from(u.message, 'hex').toString()) as Record<string, unknown> & { body: Record<string, unknown> };
    const again = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('hex');
    await refused(
      bob,
      'sc.receive',
      { message: again({ ...env, body: { ...env.body, to_accepter_sat: '6000000', to_opener_sat: String(avail - 6_000_000) } }) },
      -32602,
      /not signed by the channel's counterparty/,
    );
    await refused(bob, 'sc.receive', { message: again({ ...env, channel: 'ab'.repeat(32) }) }, -32011, /no channel .* another channel/);
    await refused(bob, 'sc.receive', { message: again({ ...env, chain: '6f'.repeat(32) }) }, -32602, /another network/);
    await refused(bob, 'sc.receive', { message: 'zz' }, -32602, /message/);
    // The real one goes through; played again, it is refused.
    const ack = await call<Step>(bob, 'sc.receive', { message: u.message });
    await refused(bob, 'sc.receive', { message: u.message }, -32014, /in flight/);
    const revoke = await call<Step>(alice, 'sc.receive', { message: ack.message });
    await refused(alice, 'sc.receive', { message: ack.message }, -32014, /no proposed state/);
    await call<Step>(bob, 'sc.receive', { message: revoke.message });
    await refused(bob, 'sc.receive', { message: revoke.message }, -32014, /waits for no revocation/);
    await refused(bob, 'sc.receive', { message: u.message }, -32602, /state 1 does not follow state 1/);
    const [a, b] = await Promise.all([view(alice, id), view(bob, id)]);
    assert.deepEqual([a.number, b.number, a.to_accepter_sat, b.to_accepter_sat], [1, 1, 5_000_000, 5_000_000]);

    // 24 proposals at once over Alice's socket: one is made, the others find it in flight; 24 deliveries of it to
    // Bob at once: one ack, the others refused.
    const tries = await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        alice.ch.call('sc.update', { id, to_opener_sat: avail - 6_000_000 - i * 1000, to_accepter_sat: 6_000_000 + i * 1000 }),
      ),
    );
    const made = tries.filter((r) => r.result).map((r) => r.result as { message: string; number: number });
    assert.equal(made.length, 1);
    assert.ok(tries.every((r) => r.result || (r.error?.code === -32014 && /in flight/.test(r.error.message))));
    const acks = await Promise.all(Array.from({ length: 24 }, () => bob.ch.call('sc.receive', { message: made[0]!.message })));
    assert.equal(acks.filter((r) => r.result).length, 1);
    const ack2 = acks.find((r) => r.result)!.result as Step;
    const revoke2 = await call<Step>(alice, 'sc.receive', { message: ack2.message });
    await call<Step>(bob, 'sc.receive', { message: revoke2.message });
    assert.deepEqual([(await view(alice, id)).number, (await view(bob, id)).number], [2, 2]);

    // 16 opens with one coin at once: one channel is offered, the others name it; cancelled, the coin is free again.
    const coin = await aliceCoin();
    const opens = await Promise.all(Array.from({ length: 16 }, () => alice.ch.call('sc.open', { capacity_sat: 1_000_000, utxos: [coin] })));
    const offered = opens.filter((r) => r.result).map((r) => r.result as { id: string });
    assert.equal(offered.length, 1);
    for (const r of opens.filter((x) => x.error)) assert.match(r.error!.message, new RegExp(`funds channel ${offered[0]!.id} already`));
    await refused(alice, 'sc.cancel', { id }, -32014, /only a channel whose funding was never signed/);
    assert.equal((await call<{ state: string }>(alice, 'sc.cancel', { id: offered[0]!.id })).state, 'cancelled');
    await call(alice, 'sc.open', { capacity_sat: 1_000_000, utxos: [coin] });
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
    const avail = 20_000_000 - (await view(alice, id)).fee_sat;
    await update(id, alice, bob, avail - 5_000_000, 5_000_000, appHash(1));
    await update(id, bob, alice, avail - 4_000_000, 4_000_000, appHash(2));
    const [aliceLog, bobLog] = await Promise.all([auditOf(alice), auditOf(bob)]);
    for (const [p, log, them, methods] of [
      [alice, aliceLog, await fundingKeyOf(bob, id), ['sc.open', 'sc.receive', 'sc.update']],
      [bob, bobLog, await fundingKeyOf(alice, id), ['sc.accept', 'sc.receive', 'sc.update']],
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
