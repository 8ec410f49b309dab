// State channel benchmarks: two anyads (software keystores) on one bcoin regtest node, a channel open between them.
//  - updates per second: one state = sc.update, sc.receive (ack), sc.receive (revoke), sc.receive (done), each over
//    the Unix socket, the messages carried by this process as an app would; against the five audited keystore
//    signatures over the same socket that a state costs (sign each other's commitment, sign three messages):
//    the ratio is what the channel logic (commitments built and checked, secrets, synced records) adds to them;
//  - over the peer network (issue 28): the same states on a channel opened with peer=, each one sc.update call on
//    Alice's socket and the rest (ack, revoke) carried by the anyads themselves over BOLT 8, timed until Bob's
//    sc.channel event says the state is final on his side too (the point the RPC loop's last sc.receive reaches);
//    against the RPC loop above in the same run, as a ratio;
//  - storage per state: the channel's record in LevelDB after 1 state and after all of them (BOLT 3 shachain keeps
//    the counterparty's secrets in at most 49 entries, so the record does not grow with the states).

import { writeFile } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { startBcoin, type BcoinNode } from '../test/helpers/bcoin.js';
import { unixChannel, type Channel } from '../test/helpers/channel.js';
import { startDaemon, type RunningDaemon } from '../test/helpers/daemon.js';
import { keystorePartyArgs } from '../test/helpers/keystore-party.js';
import { call, latency, r3 } from './measure.js';

const N = Number(process.env.BENCH_SC_UPDATES ?? 200);

export async function benchChannels(results: Record<string, unknown>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'anya-bench-sc-'));
  const node = await startBcoin(dir);
  const daemons: RunningDaemon[] = [];
  try {
    const party = async (name: string): Promise<{ ch: Channel; d: RunningDaemon; address: string; key: string }> => {
      const pf = join(dir, `${name}.pass`);
      await writeFile(pf, `${name} passphrase\n`, { mode: 0o600 });
      const d = await startDaemon(join(dir, name), {
        args: keystorePartyArgs(node, pf),
      });
      daemons.push(d);
      const ch = await unixChannel(d.socket);
      const key = await call<{ id: string }>(ch, 'hsm.generatekey', { label: `${name} coins` });
      const address = (await call<{ addresses: { p2wpkh: string } }>(ch, 'hsm.getpubkey', { key: key.id })).addresses.p2wpkh;
      for (let i = 0; i < 200 && (await call<{ state: string }>(ch, 'chain.getinfo')).state !== 'connected'; i++) await new Promise((r) => setTimeout(r, 50));
      return { ch, d, address, key: key.id };
    };
    const alice = await party('alice');
    const bob = await party('bob');
    const opens: string[] = [];
    for (let c = 0; c < 2; c++) {
      const [block] = await node.mine(1, alice.address);
      await node.mine(100, bob.address);
      const coinbase = (await node.rpc<{ tx: string[] }>('getblock', block, true, false)).tx[0]!;
      const o = await call<{ id: string; message: string }>(alice.ch, 'sc.open', { capacity_sat: 100_000_000, utxos: [{ txid: coinbase, vout: 0 }] });
      const a = await call<{ message: string }>(bob.ch, 'sc.accept', { message: o.message });
      const fc = await call<{ message: string }>(alice.ch, 'sc.receive', { message: a.message });
      const fs = await call<{ message: string }>(bob.ch, 'sc.receive', { message: fc.message });
      const funded = await call<{ txid: string }>(alice.ch, 'sc.receive', { message: fs.message });
      for (let i = 0; i < 400 && !(await node.rpc<string[]>('getrawmempool')).includes(funded.txid); i++) await new Promise((r) => setTimeout(r, 25));
      await node.mine(1, bob.address);
      for (let i = 0; i < 400; i++) {
        const [x, y] = await Promise.all([alice, bob].map((p) => call<{ state: string }>(p.ch, 'sc.get', { id: o.id })));
        if (x!.state === 'open' && y!.state === 'open') break;
        await new Promise((r) => setTimeout(r, 25));
      }
      opens.push(o.id);
    }
    const fee = (await call<{ fee_sat: number }>(alice.ch, 'sc.get', { id: opens[0] })).fee_sat;
    const avail = 100_000_000 - fee;
    const update = async (id: string, i: number): Promise<void> => {
      const u = await call<{ message: string }>(alice.ch, 'sc.update', { id, to_opener_sat: avail - i * 1000, to_accepter_sat: i * 1000 });
      const ack = await call<{ message: string }>(bob.ch, 'sc.receive', { message: u.message });
      const rev = await call<{ message: string }>(alice.ch, 'sc.receive', { message: ack.message });
      await call(bob.ch, 'sc.receive', { message: rev.message });
    };
    await update(opens[1]!, 1); // the one-state channel
    const times: number[] = [];
    const t0 = performance.now();
    for (let i = 1; i <= N; i++) {
      const t = performance.now();
      await update(opens[0]!, i);
      times.push(performance.now() - t);
    }
    const seconds = (performance.now() - t0) / 1000;
    const wire = await overTheWire(node, alice, bob, N);
    // Baseline: five audited keystore signatures over the same sockets, as an update makes them.
    const digest = 'ab'.repeat(32);
    const base: number[] = [];
    for (let i = 0; i < N; i++) {
      const t = performance.now();
      for (const [p, k] of [
        [alice, 2],
        [bob, 3],
      ] as const)
        for (let j = 0; j < k; j++) await call(p.ch, 'hsm.sign', { key: p.key, digest });
      base.push(performance.now() - t);
    }
    // The records, read from Alice's LevelDB once her anyad has stopped.
    alice.ch.close();
    await alice.d.kill();
    const db = new Level<string, unknown>(join(dir, 'alice', 'regtest', 'state'), { valueEncoding: 'json' });
    await db.open();
    const sub = db.sublevel<string, unknown>('channels', { valueEncoding: 'json' });
    const bytes = async (id: string): Promise<number> => Buffer.byteLength(JSON.stringify(await sub.get(`c:${id}`)));
    const [one, many] = [await bytes(opens[1]!), await bytes(opens[0]!)];
    await db.close();
    const s = latency(times);
    const b = latency(base);
    const res = {
      updates: N,
      updates_per_s: r3(N / seconds),
      update_ms: s,
      five_signatures_ms: b,
      ratio: r3(s.p50_ms / b.p50_ms),
      record_bytes_after_1: one,
      record_bytes_after_n: many,
      wire: {
        updates_per_s: wire.updates_per_s,
        update_ms: wire.update_ms,
        // Over the peer network against over the RPC (hand-carried): > 1 means faster.
        throughput_ratio: r3(wire.updates_per_s / r3(N / seconds)),
        p50_ratio: r3(wire.update_ms.p50_ms / s.p50_ms),
      },
    };
    results.channels = res;
    console.log(
      `channels: ${res.updates_per_s} updates/s (p50 ${s.p50_ms} ms, p99 ${s.p99_ms} ms) vs five audited hsm.sign p50 ${b.p50_ms} ms (${res.ratio}×); record ${one} B after 1 state, ${many} B after ${N + 1}`,
    );
    console.log(
      `channels over the peer network: ${wire.updates_per_s} updates/s (p50 ${wire.update_ms.p50_ms} ms, p99 ${wire.update_ms.p99_ms} ms) vs over RPC ${res.updates_per_s} updates/s (p50 ${s.p50_ms} ms): ${res.wire.throughput_ratio}× the throughput, ${res.wire.p50_ratio}× the p50`,
    );
  } finally {
    for (const d of daemons) await d.kill().catch(() => undefined);
    await node.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

type Party = { ch: Channel; d: RunningDaemon; address: string };

/**
 * n states on a channel between the two anyads over the peer network: Alice connects to Bob, opens with peer=, Bob
 * accepts the offer by id; funding_created, funding_signed and every ack and revoke go by themselves.
 */
async function overTheWire(
  node: BcoinNode,
  alice: Party,
  bob: Party,
  n: number,
): Promise<{ updates_per_s: number; update_ms: { p50_ms: number; p99_ms: number } }> {
  const bobInfo = await call<{ pubkey: string; listening: { port: number } }>(bob.ch, 'peer.getinfo');
  await call(alice.ch, 'peer.connect', { address: `${bobInfo.pubkey}@127.0.0.1:${bobInfo.listening.port}` });
  // Bob's events on a socket of their own: the end of each state on his side.
  const events = await unixChannel(bob.d.socket);
  await call(events, 'subscribe', { topics: ['sc.channel', 'sc.offered'] });
  const next = async (pred: (d: { topic: string; data: Record<string, unknown> }) => boolean): Promise<void> => {
    for (;;) {
      const m = (await events.next(60_000)) as { method?: string; params?: { topic: string; data: Record<string, unknown> } };
      if (m.method === 'event' && m.params && pred(m.params)) return;
    }
  };
  try {
    const [block] = await node.mine(1, alice.address);
    await node.mine(100, bob.address);
    const coinbase = (await node.rpc<{ tx: string[] }>('getblock', block, true, false)).tx[0]!;
    const o = await call<{ id: string }>(alice.ch, 'sc.open', { capacity_sat: 100_000_000, utxos: [{ txid: coinbase, vout: 0 }], peer: bobInfo.pubkey });
    await next((e) => e.topic === 'sc.offered' && e.data.id === o.id);
    await call(bob.ch, 'sc.accept', { id: o.id });
    let txid: string | null = null;
    for (let i = 0; i < 800 && !txid; i++) {
      const v = await call<{ funding_txid: string | null; state: string }>(alice.ch, 'sc.get', { id: o.id });
      if (v.funding_txid && (await node.rpc<string[]>('getrawmempool')).includes(v.funding_txid)) txid = v.funding_txid;
      else await new Promise((r) => setTimeout(r, 25));
    }
    if (!txid) throw new Error('the funding over the peer network was not broadcast');
    await node.mine(1, bob.address);
    await next((e) => e.topic === 'sc.channel' && e.data.id === o.id && e.data.state === 'open');
    for (let i = 0; i < 400 && (await call<{ state: string }>(alice.ch, 'sc.get', { id: o.id })).state !== 'open'; i++)
      await new Promise((r) => setTimeout(r, 25));
    const avail = 100_000_000 - (await call<{ fee_sat: number }>(alice.ch, 'sc.get', { id: o.id })).fee_sat;
    const times: number[] = [];
    const t0 = performance.now();
    for (let i = 1; i <= n; i++) {
      const t = performance.now();
      await call(alice.ch, 'sc.update', { id: o.id, to_opener_sat: avail - i * 1000, to_accepter_sat: i * 1000 });
      await next((e) => e.topic === 'sc.channel' && e.data.id === o.id && e.data.number === i);
      times.push(performance.now() - t);
    }
    return { updates_per_s: r3(n / ((performance.now() - t0) / 1000)), update_ms: latency(times) };
  } finally {
    events.close();
  }
}
