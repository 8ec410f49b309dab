// What the tests of state channels over the peer network share (channels-wire*.test.ts): the two anyads of
// channels-setup.ts with Bob's peer listener on a port kept across his restarts and Alice connected to him
// (peer.connect: she reconnects by herself), each anyad's events collected on a second socket, a restart after
// SIGKILL, and the open of a channel where the test carries no message: sc.open peer=, Bob's sc.offered, sc.accept
// id=, then funding_created, funding_signed and the funding broadcast come by themselves.

import assert from 'node:assert/strict';
import { before } from 'node:test';
import { unixChannel, type Channel } from '../helpers/channel.js';
import type { RunningDaemon } from '../helpers/daemon.js';
import { until } from '../helpers/until.js';
import { freePort } from '../p2p/daemons.js';
import { appHash, call, CAPACITY, DELAY, twoAnyads, type Party, type TwoAnyads } from './channels-setup.js';

export interface Ev {
  topic: string;
  data: Record<string, unknown>;
}

/** The events of one anyad (sc.*), collected in order, and waits on them. */
export class Events {
  readonly seen: Ev[] = [];
  private open = true;
  private readonly waiters = new Set<() => void>();
  private constructor(private readonly ch: Channel) {}

  static async on(p: Party): Promise<Events> {
    const ch = await unixChannel(p.d.socket);
    const r = await ch.call('subscribe', { topics: ['sc.channel', 'sc.offered', 'sc.approval', 'sc.refused', 'sc.justice'] });
    assert.ok(!r.error, JSON.stringify(r.error));
    const ev = new Events(ch);
    void ch.closed.then(() => (ev.open = false));
    void (async () => {
      while (ev.open) {
        const m = (await ch.next(250).catch(() => undefined)) as { method?: string; params?: Ev } | undefined;
        if (m?.method !== 'event' || !m.params) continue;
        ev.seen.push(m.params);
        for (const w of [...ev.waiters]) w();
      }
    })();
    return ev;
  }

  /** The first event (from the start) that pred accepts, waited for up to ms. */
  wait(what: string, pred: (e: Ev) => boolean, ms = 60_000): Promise<Ev> {
    const found = this.seen.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const f = this.seen.find(pred);
        if (!f) return;
        clearTimeout(t);
        this.waiters.delete(check);
        resolve(f);
      };
      const t = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`gave up waiting for ${what}`));
      }, ms);
      this.waiters.add(check);
    });
  }

  /** The channel's sc.channel event of state `n` (or later). */
  number(id: string, n: number, ms?: number): Promise<Ev> {
    return this.wait(`state ${n} of ${id}`, (e) => e.topic === 'sc.channel' && e.data.id === id && (e.data.number as number) >= n, ms);
  }

  refused(): Ev[] {
    return this.seen.filter((e) => e.topic === 'sc.refused');
  }

  close(): void {
    this.open = false;
    this.ch.close();
  }
}

export interface WireAnyads extends TwoAnyads {
  alicePk: string;
  bobPk: string;
  bobPort: number;
  ev: { alice: Events; bob: Events };
  /** Every anyad process the suite ran (their logs, after kills too). */
  ran: RunningDaemon[];
  /** The party killed (SIGKILL by default) and started again on its datadir; both connected again. */
  restart(name: 'alice' | 'bob', signal?: NodeJS.Signals): Promise<void>;
  /** Waits until each side sees the other connected. */
  connected(): Promise<void>;
  /** sc.open peer= by Alice, the offer taken and accepted by id by Bob: the channel id (not funded yet). */
  offerAndAccept(push?: number): Promise<string>;
  /** Once the funding is sent by itself: in the mempool, mined, both open. */
  fundedAndOpen(id: string): Promise<void>;
}

export function wireAnyads(): WireAnyads {
  const w = twoAnyads() as WireAnyads;
  // Bob makes a penalty for a tower at every state Alice revokes (sc.justice): over the wire it comes as sc.justice.
  const bobArgs = (): string[] => [`-p2p.peerport=${w.bobPort}`, '-sc.justice'];
  w.ran = [];
  w.connected = async () => {
    for (const [p, other] of [
      [w.alice, w.bobPk],
      [w.bob, w.alicePk],
    ] as const)
      await until(`${p.name} connected to the other`, async () =>
        (await call<Array<{ pubkey: string; connected: boolean }>>(p, 'peer.list')).some((x) => x.pubkey === other && x.connected) ? true : undefined,
      );
  };
  w.restart = async (name, signal = 'SIGKILL') => {
    const old = w[name];
    w.ev[name].close();
    old.ch.close();
    await old.d.kill(signal);
    w[name] = await w.start(name, old, name === 'bob' ? bobArgs() : []);
    w.ran.push(w[name].d);
    w.ev[name] = await Events.on(w[name]);
    // Alice would reconnect by herself (after a backoff of up to a few seconds): asked at once to keep tests short.
    if (name === 'bob') await call(w.alice, 'peer.connect', { address: `${w.bobPk}@127.0.0.1:${w.bobPort}` });
    await w.connected();
  };
  w.offerAndAccept = async (push = 0) => {
    const utxos = [await w.aliceCoin()];
    const o = await call<{ id: string }>(w.alice, 'sc.open', {
      capacity_sat: CAPACITY,
      push_sat: push,
      to_self_delay: DELAY,
      fee_rate_sat_vb: 2,
      app_hash: appHash(0),
      utxos,
      peer: w.bobPk,
    });
    const offered = await w.ev.bob.wait('the offer', (e) => e.topic === 'sc.offered' && e.data.id === o.id);
    assert.equal(offered.data.peer, w.alicePk);
    await call(w.bob, 'sc.accept', { id: o.id, to_self_delay: DELAY });
    return o.id;
  };
  w.fundedAndOpen = async (id) => {
    const txid = await until('the funding made', async () => (await w.view(w.alice, id)).funding_txid ?? undefined);
    await until(`${txid} in the node's mempool`, async () => ((await w.node.rpc<string[]>('getrawmempool')).includes(txid) ? true : undefined), 1200);
    await w.node.mine(1, w.bob.address);
    await w.waitState(w.alice, id, 'open');
    await w.waitState(w.bob, id, 'open');
  };
  before(async () => {
    w.bobPort = await freePort();
    // Bob's listener on a port of its own, kept across his restarts: Alice reconnects to it.
    w.bob.ch.close();
    await w.bob.d.kill();
    w.bob = await w.start('bob', w.bob, bobArgs());
    w.ran.push(w.alice.d, w.bob.d);
    w.alicePk = (await call<{ pubkey: string }>(w.alice, 'peer.getinfo')).pubkey;
    w.bobPk = (await call<{ pubkey: string }>(w.bob, 'peer.getinfo')).pubkey;
    w.ev = { alice: await Events.on(w.alice), bob: await Events.on(w.bob) };
    await call(w.alice, 'peer.connect', { address: `${w.bobPk}@127.0.0.1:${w.bobPort}` });
    await w.connected();
  });
  return w;
}

/** Log lines of a refused peer message, in every process the suite ran. */
export const refusedInLogs = (w: WireAnyads): unknown[] => w.ran.flatMap((d) => d.logs.filter((l) => l.msg === 'state channel message from a peer refused'));
