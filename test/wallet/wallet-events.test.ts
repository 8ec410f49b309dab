// The wallet.tx event log (wallet.listevents) on a bcoin regtest node, against a real anyad over its Unix socket:
// events listed in seq order without gaps and equal to what a subscriber got live; a kill -9 right after blocks, then
// a restart: every event after a seq listed exactly once, the live ones before the kill among them unchanged, the
// seq going on without reuse; a reorg's 'reorged' event; a since beyond the newest; a log made small by the config
// pruned, and a since older than it refused naming the oldest kept; bad params refused.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { fund as fundExternal, newWallet, pay, startBcoin, type BcoinNode } from '../helpers/bcoin.js';
import { unixChannel, type Channel } from '../helpers/channel.js';
import { startDaemon, tempDir, type RunningDaemon } from '../helpers/daemon.js';
import { keystorePartyArgs } from '../helpers/keystore-party.js';
import { until } from '../helpers/until.js';

interface Ev {
  seq: number;
  txid: string;
  status: string;
  height: number | null;
  amount_sat: number;
  fee_sat: number | null;
  replaced_by?: string;
}
interface Listed {
  events: Ev[];
  first_seq: number;
  last_seq: number;
}

async function call<T>(ch: Channel, method: string, params?: unknown): Promise<T> {
  const r = await ch.call(method, params, undefined, 120_000);
  if (r.error) throw Object.assign(new Error(`${method}: ${r.error.code} ${r.error.message}`), { code: r.error.code, data: r.error.data });
  return r.result as T;
}

async function refused(ch: Channel, method: string, params: unknown, code: number, message: RegExp): Promise<{ code: number; data?: unknown }> {
  const r = await ch.call(method, params, undefined, 120_000);
  assert.ok(r.error, `${method} ${JSON.stringify(params)} should be refused`);
  assert.equal(r.error.code, code, r.error.message);
  assert.match(r.error.message, message);
  return r.error;
}

/** Every event after `since`, paging by `limit` as a client does. */
async function allAfter(ch: Channel, since: number, limit = 7): Promise<Ev[]> {
  const out: Ev[] = [];
  for (;;) {
    const r = await call<Listed>(ch, 'wallet.listevents', { since, limit });
    out.push(...r.events);
    if (r.events.length < limit) return out;
    since = r.events.at(-1)!.seq;
  }
}

function assertContiguous(evs: Ev[], from: number): void {
  assert.deepEqual(
    evs.map((e) => e.seq),
    Array.from({ length: evs.length }, (_, i) => from + i),
    'seqs in order, without gaps or repeats',
  );
}

describe('wallet.listevents: the wallet.tx events, exactly once across restarts and reorgs', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let node: BcoinNode;
  let d: RunningDaemon;
  let ch: Channel;
  let sub: Channel;
  let args: string[];
  /** What the subscriber got live, in arrival order. */
  const live: Ev[] = [];

  const tipOf = async (): Promise<number> => (await node.rpc<{ blocks: number }>('getblockchaininfo')).blocks;
  const synced = async (): Promise<void> => {
    const height = await tipOf();
    await until('anyad follows the tip', async () =>
      (await call<{ processed_height: number | null }>(ch, 'chain.getinfo')).processed_height === height ? true : undefined,
    );
  };
  const lastSeq = async (): Promise<number> => (await call<Listed>(ch, 'wallet.listevents', { limit: 1 })).last_seq;
  /** Drains the subscriber's events into `live`. */
  const drain = async (): Promise<void> => {
    for (;;) {
      const m = (await sub.next(300).catch(() => undefined)) as { method?: string; params?: { topic: string; data: Ev } } | undefined;
      if (!m) return;
      if (m.method === 'event' && m.params?.topic === 'wallet.tx') live.push(m.params.data);
    }
  };
  const connect = async (): Promise<void> => {
    ch = await unixChannel(d.socket);
    sub = await unixChannel(d.socket);
    await call(sub, 'subscribe', { topics: ['wallet.tx'] });
  };
  const ours = async (): Promise<string> => (await call<{ address: string }>(ch, 'wallet.getnewaddress')).address;
  /** An external coin paid to the wallet: in the mempool, not yet mined. */
  const payUs = async (): Promise<string> => {
    const ext = newWallet();
    const coin = await fundExternal(node, ext);
    const tx = pay(ext, coin, await ours());
    await node.send(tx.hex);
    return tx.txid;
  };

  before(async () => {
    dir = await tempDir('anya-wallet-events-');
    node = await startBcoin(dir.path);
    const pf = join(dir.path, 'pass');
    await writeFile(pf, 'wallet events test passphrase\n', { mode: 0o600 });
    args = keystorePartyArgs(node, pf, ['-wallet.fallbackfee=2']);
    d = await startDaemon(join(dir.path, 'a'), { args });
    await connect();
  });

  after(async () => {
    ch?.close();
    sub?.close();
    await d?.kill();
    await node?.stop();
    await dir?.remove();
  });

  it('an empty log: no events, last_seq 0', async () => {
    assert.deepEqual(await call<Listed>(ch, 'wallet.listevents'), { events: [], first_seq: 1, last_seq: 0 });
    assert.deepEqual(await call<Listed>(ch, 'wallet.listevents', { since: 0 }), { events: [], first_seq: 1, last_seq: 0 });
  });

  it('receive, confirm, send: listed in order without gaps, equal to the live events', async () => {
    await node.mine(1, await ours()); // a coinbase of ours: received in its block
    const paid = await payUs(); // fundExternal's 101 blocks mature the coinbase
    await synced();
    await until('the payment is seen', async () => ((await lastSeq()) >= 2 ? true : undefined));
    await node.mine(1, newWallet().address);
    await synced();
    const sent = await call<{ txid: string }>(ch, 'wallet.send', { outputs: [{ address: newWallet().address, amount_sat: 1_000_000 }], fee_rate: 2 });
    await node.mine(1, newWallet().address);
    await synced();
    await until('five events', async () => ((await lastSeq()) >= 5 ? true : undefined));
    await drain();

    const listed = await allAfter(ch, 0, 2);
    assertContiguous(listed, 1);
    assert.deepEqual(
      listed.map((e) => e.status),
      ['received', 'received', 'confirmed', 'sent', 'confirmed'],
    );
    assert.equal(listed[0]!.amount_sat, 50e8);
    assert.notEqual(listed[0]!.height, null);
    assert.deepEqual(
      listed.filter((e) => e.txid === paid).map((e) => [e.status, e.height === null]),
      [
        ['received', true],
        ['confirmed', false],
      ],
    );
    const send = listed.filter((e) => e.txid === sent.txid);
    assert.deepEqual(
      send.map((e) => e.status),
      ['sent', 'confirmed'],
    );
    assert.ok(send[0]!.amount_sat < -1_000_000 && send[0]!.fee_sat! > 0);
    // What the subscriber got live is what is listed, event for event.
    assert.deepEqual(live, listed);
    const r = await call<Listed>(ch, 'wallet.listevents', { since: 3, limit: 1 });
    assert.deepEqual(r, { events: [listed[3]], first_seq: 1, last_seq: 5 });
  });

  it('since beyond the newest event: no events, and the newest seq', async () => {
    const last = await lastSeq();
    assert.deepEqual(await call<Listed>(ch, 'wallet.listevents', { since: last }), { events: [], first_seq: 1, last_seq: last });
    assert.deepEqual(await call<Listed>(ch, 'wallet.listevents', { since: last + 1000 }), { events: [], first_seq: 1, last_seq: last });
  });

  it('kill -9 right after blocks, three times: every event after a seq listed exactly once, the seq never reused', async () => {
    const checkpoint = await lastSeq();
    const txids: string[] = [];
    for (let round = 0; round < 3; round++) {
      txids.push(await payUs());
      await synced(); // the payment's block and fundExternal's: the mempool event may or may not be seen first
      await node.mine(1, newWallet().address);
      // Right after the block: whether anyad has followed it yet or not, it is killed.
      await new Promise((r) => setTimeout(r, round * 60));
      await drain();
      ch.close();
      sub.close();
      await d.kill('SIGKILL');
      d = await startDaemon(join(dir.path, 'a'), { args });
      await connect();
      await synced();
    }
    await until('every payment confirmed in the wallet', async () => {
      const txs = await call<{ items: Array<{ txid: string; status: string }> }>(ch, 'wallet.listtransactions', { count: 1000 });
      return txids.every((t) => txs.items.find((x) => x.txid === t)?.status === 'confirmed') ? true : undefined;
    });
    await drain();
    const listed = await allAfter(ch, checkpoint);
    assertContiguous(listed, checkpoint + 1);
    assert.deepEqual([...new Set(listed.map((e) => e.txid))].sort(), [...txids].sort(), 'no other events');
    for (const t of txids) {
      const evs = listed.filter((e) => e.txid === t);
      // Seen in the mempool then confirmed, or (the mempool look lost to the kill) received in its block: once each.
      const statuses = evs.map((e) => e.status);
      assert.ok(
        JSON.stringify(statuses) === '["received","confirmed"]' || (JSON.stringify(statuses) === '["received"]' && evs[0]!.height !== null),
        `${t}: ${JSON.stringify(statuses)}`,
      );
    }
    // Every event a subscriber got live (before or after a kill) is in the log, unchanged: no seq was used twice.
    const bySeq = new Map((await allAfter(ch, 0, 1000)).map((e) => [e.seq, e]));
    for (const e of live) assert.deepEqual(bySeq.get(e.seq), e, `live event ${e.seq}`);
    assert.equal(new Set(live.map((e) => e.seq)).size, live.length, 'no seq published twice');
  });

  it("a reorg: the block's payment listed 'reorged' (back to unconfirmed), in seq order after what came before", async () => {
    const paid = await payUs();
    await synced();
    const [h] = await node.mine(1, newWallet().address);
    await synced();
    await until('the payment confirmed', async () =>
      (await allAfter(ch, 0, 1000)).some((e) => e.txid === paid && e.status === 'confirmed') ? true : undefined,
    );
    const checkpoint = await lastSeq();
    await node.rpc('invalidateblock', h);
    await node.mine(2, newWallet().address);
    await synced();
    const after = await until('the reorg in the log', async () => {
      const evs = await allAfter(ch, checkpoint);
      return evs.some((e) => e.status === 'reorged') ? evs : undefined;
    });
    assertContiguous(after, checkpoint + 1);
    const reorged = after.find((e) => e.status === 'reorged')!;
    assert.equal(reorged.txid, paid);
    assert.equal(reorged.height, null);
  });

  it('a log made small (wallet.eventlog=10) is pruned at the next step; a since older than it is refused, naming the oldest kept', async () => {
    ch.close();
    sub.close();
    await d.kill();
    d = await startDaemon(join(dir.path, 'a'), { args: [...args, '-wallet.eventlog=10'] });
    await connect();
    const before = await lastSeq();
    assert.ok(before >= 9, `${before} events so far`);
    await node.mine(2, await ours()); // two coinbases of ours: two events, and the log cut to the last ten
    await synced();
    await until('two more events', async () => ((await lastSeq()) === before + 2 ? true : undefined));
    const r = await call<Listed>(ch, 'wallet.listevents', { limit: 1000 });
    assert.equal(r.last_seq, before + 2);
    assert.equal(r.first_seq, before + 2 - 9);
    assertContiguous(r.events, r.first_seq);
    const err = await refused(
      ch,
      'wallet.listevents',
      { since: 0 },
      -32014,
      new RegExp(`after seq 0 are no longer kept: the oldest kept is ${r.first_seq}.*wallet.listtransactions`),
    );
    assert.deepEqual(err.data, { since: 0, first_seq: r.first_seq, last_seq: r.last_seq });
    await refused(ch, 'wallet.listevents', { since: r.first_seq - 2 }, -32014, /no longer kept/);
    // first_seq - 1 is the oldest since still served: every kept event follows it.
    assert.equal((await call<Listed>(ch, 'wallet.listevents', { since: r.first_seq - 1, limit: 1000 })).events.length, 10);
  });

  it('refuses bad params: a negative since, limit 0 or over 1000, an unknown name', async () => {
    await refused(ch, 'wallet.listevents', { since: -1 }, -32602, /since/);
    await refused(ch, 'wallet.listevents', { since: 1.5 }, -32602, /since/);
    await refused(ch, 'wallet.listevents', { limit: 0 }, -32602, /limit/);
    await refused(ch, 'wallet.listevents', { limit: 1001 }, -32602, /limit/);
    await refused(ch, 'wallet.listevents', { since: 1, start: 2 }, -32602, /start/);
  });
});
