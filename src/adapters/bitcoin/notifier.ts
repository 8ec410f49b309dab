// Chain notifications for other rooms (LND's chainntnfs RegisterSpendNtfn / RegisterConfirmationsNtfn, LDK's
// Confirm and Filter): a room registers its handlers once (`notifications(room, handlers)`), then asks for the spend
// of an outpoint or the confirmation of a transaction to a depth, under ids of its own (a contract, a channel).
//
// The notifier is one of the watcher's chain listeners: what it learns from a block, a rewind or a mempool
// transaction is written in the watcher's own batch, so its records move with the watcher's tip exactly once.
// Two things are kept per registration, under separate keys so that the two writers never overwrite each other:
//   nt:<room>:<id>:<s|c>:<outpoint|txid>   what the chain says (written by the listener steps only), and
//   nt:<room>:<id>:<s|c>:<...>!            what the room was last told (written by the delivery only).
// Delivery compares the two and tells the room the difference (spent, confirmed, reorged), then writes what it told
// once the room's handler has finished: a room that was not listening (a restart, a room that opens later) is told
// when it registers, and nothing already told is told again.

import * as bitcoin from 'bitcoinjs-lib';
import type { Logger } from 'pino';
import { rpcError } from '../../core/errors.js';
import type { BatchOp, RoomDb, Store } from '../../core/store.js';
import type { VerboseBlock, VerboseTx } from './backend.js';
import type { ChainListener, ChainNotifications, ChainHandlers, ListenerWrite, ReorgEvent, SpendEvent } from './api.js';

interface SpendSeen {
  txid: string;
  hex: string;
  height: number | null;
  block_hash: string | null;
}
interface ConfirmSeen {
  height: number;
  block_hash: string;
}
interface SpendWatch {
  kind: 's';
  room: string;
  id: string;
  outpoint: string;
  seen?: SpendSeen;
}
interface ConfirmWatch {
  kind: 'c';
  room: string;
  id: string;
  txid: string;
  depth: number;
  seen?: ConfirmSeen;
}
type Registration = SpendWatch | ConfirmWatch;
/** What the room was last told of a registration: a spend (in the mempool or a block) or a confirmation. */
interface Told {
  txid: string;
  height: number | null;
  block_hash: string | null;
}

const MAX_REGISTRATIONS = 250_000;
const ROOM_NAME = /^[a-z][a-z0-9-]{0,31}$/;
/** Printable, without ':' (the key's separator: one id's keys are never another's prefix). */
const ID = /^[\x21-\x39\x3b-\x7e]{1,128}$/;
const OUTPOINT = /^([0-9a-f]{64}):(\d{1,10})$/;
const TXID = /^[0-9a-f]{64}$/;

const keyOf = (r: Pick<Registration, 'room' | 'id' | 'kind'> & { target: string }): string => `nt:${r.room}:${r.id}:${r.kind}:${r.target}`;
const targetOf = (r: Registration): string => (r.kind === 's' ? r.outpoint : r.txid);
const toldKey = (key: string): string => `${key}!`;
const sameTold = (a: Told | undefined, b: Told | undefined): boolean => a?.txid === b?.txid && a?.block_hash === b?.block_hash;

export class ChainNotifier implements ChainListener {
  private readonly records = new Map<string, Registration>();
  private readonly told = new Map<string, Told>();
  /** Registration keys by the outpoint they watch the spend of, and by the txid they watch the confirmation of. */
  private readonly byOutpoint = new Map<string, Set<string>>();
  private readonly byTxid = new Map<string, Set<string>>();
  private readonly handlers = new Map<string, ChainHandlers>();
  /** Each room's deliveries, one after another (it hears of its registrations in the order the chain moved). */
  private readonly queues = new Map<string, Promise<void>>();
  private height: number | undefined;

  constructor(
    private readonly db: RoomDb,
    private readonly store: Store,
    private readonly log: Logger,
    private readonly tip: () => { height: number } | undefined,
    /** A block serialised (hex): a spending transaction's bytes where the node's verbose block leaves them out (bcoin). */
    private readonly rawBlock: (hash: string) => Promise<string>,
  ) {}

  async load(): Promise<void> {
    for await (const [k, v] of this.db.iterator({ gte: 'nt:', lt: 'nt;' })) {
      if (k.endsWith('!')) this.told.set(k.slice(0, -1), v as Told);
      else this.index(k, v as Registration);
    }
  }

  /** Whether the watcher must read blocks in full and look at the mempool for the notifier: something is registered. */
  active(): boolean {
    return this.records.size > 0;
  }

  /** A room's handlers; what happened while it was not listening is delivered now. */
  notifications(room: string, handlers: ChainHandlers): ChainNotifications {
    if (!ROOM_NAME.test(room)) throw new Error(`'${room}' is not a room name`);
    this.handlers.set(room, handlers);
    this.deliver([...this.records.keys()].filter((k) => this.records.get(k)!.room === room));
    return {
      watchSpend: (w) => this.watchSpend(room, w),
      watchConfirm: (w) => this.watchConfirm(room, w),
      forget: (id) => this.forget(room, id),
      spendOf: (w) => this.spendOf(room, w),
    };
  }

  private spendOf(room: string, w: { outpoint: string; id: string }): SpendEvent | undefined {
    const r = this.records.get(keyOf({ room, id: w.id, kind: 's', target: w.outpoint.toLowerCase() }));
    if (r?.kind !== 's' || !r.seen) return undefined;
    return { id: r.id, outpoint: r.outpoint, txid: r.seen.txid, hex: r.seen.hex, height: r.seen.height, block_hash: r.seen.block_hash };
  }

  private async watchSpend(room: string, w: { outpoint: string; id: string }): Promise<void> {
    const m = OUTPOINT.exec(w.outpoint.toLowerCase());
    if (!m || Number(m[2]) > 0xffffffff) throw rpcError('InvalidParams', 'outpoint must be <txid>:<vout>');
    await this.register({ kind: 's', room, id: this.checkId(w.id), outpoint: `${m[1]}:${Number(m[2])}` });
  }

  private async watchConfirm(room: string, w: { txid: string; depth: number; id: string }): Promise<void> {
    const txid = w.txid.toLowerCase();
    if (!TXID.test(txid)) throw rpcError('InvalidParams', 'txid must be 32 bytes of hex');
    if (!Number.isInteger(w.depth) || w.depth < 1 || w.depth > 1000) throw rpcError('InvalidParams', 'depth must be 1 to 1000 confirmations');
    await this.register({ kind: 'c', room, id: this.checkId(w.id), txid, depth: w.depth });
  }

  private checkId(id: string): string {
    if (!ID.test(id)) throw rpcError('InvalidParams', "a notification id is 1 to 128 printable characters, none of them ':'");
    return id;
  }

  /**
   * A registration made again (every open of the room makes its own again) changes nothing. Indexed once durable:
   * a room registers before it sends the transaction concerned, so no block can hold it in between.
   */
  private async register(r: Registration): Promise<void> {
    const key = keyOf({ ...r, target: targetOf(r) });
    if (this.records.has(key)) return;
    if (this.records.size >= MAX_REGISTRATIONS) throw rpcError('Busy', `${MAX_REGISTRATIONS} chain notifications are registered already`);
    await this.store.batch([{ type: 'put', sublevel: this.db, key, value: r }]);
    this.index(key, r);
  }

  /** Every registration of the room under `id` goes (a contract or channel that is over). */
  private async forget(room: string, id: string): Promise<void> {
    const prefix = `nt:${room}:${id}:`;
    const keys = [...this.records.keys()].filter((k) => k.startsWith(prefix));
    if (keys.length === 0) return;
    await this.store.batch(keys.flatMap((k): BatchOp[] => [this.del(k), this.del(toldKey(k))]));
    for (const k of keys) {
      const r = this.records.get(k)!;
      this.records.delete(k);
      this.told.delete(k);
      const map = r.kind === 's' ? this.byOutpoint : this.byTxid;
      const set = map.get(targetOf(r));
      set?.delete(k);
      if (set?.size === 0) map.delete(targetOf(r));
    }
  }

  async connected(block: VerboseBlock): Promise<ListenerWrite | undefined> {
    if (this.records.size === 0) return undefined;
    const changed = new Map<string, Registration>();
    const current = (k: string): Registration => changed.get(k) ?? this.records.get(k)!;
    let raw: Map<string, string> | undefined;
    for (const tx of block.tx) {
      for (const input of tx.vin) {
        if (input.txid === undefined) continue;
        for (const k of this.byOutpoint.get(`${input.txid}:${input.vout}`) ?? []) {
          raw ??= tx.hex === undefined ? await this.blockTxs(block.hash) : undefined;
          const hex = tx.hex ?? raw?.get(tx.txid) ?? '';
          changed.set(k, { ...current(k), seen: { txid: tx.txid, hex, height: block.height, block_hash: block.hash } } as SpendWatch);
        }
      }
      for (const k of this.byTxid.get(tx.txid) ?? []) changed.set(k, { ...current(k), seen: { height: block.height, block_hash: block.hash } } as ConfirmWatch);
    }
    // Confirmations waiting for their depth are looked at again: this block may be the one that reaches it.
    const deepen = [...this.records.entries()]
      .filter(([k, r]) => r.kind === 'c' && r.seen && this.told.get(k)?.block_hash !== r.seen.block_hash)
      .map(([k]) => k);
    return this.write(changed, deepen, block.height);
  }

  /** Every transaction of a block, serialised, by txid (read only when a registered spend is in it). */
  private async blockTxs(hash: string): Promise<Map<string, string>> {
    const block = bitcoin.Block.fromHex(await this.rawBlock(hash));
    return new Map((block.transactions ?? []).map((t) => [t.getId(), t.toHex()]));
  }

  rewound(tip: { height: number; hash: string }): ListenerWrite | undefined {
    const changed = new Map<string, Registration>();
    for (const [k, r] of this.records) {
      const h = r.seen?.height;
      if (h !== undefined && h !== null && h > tip.height) changed.set(k, { ...r, seen: undefined });
    }
    return this.write(changed, [], tip.height);
  }

  mempool(tx: VerboseTx): ListenerWrite | undefined {
    if (this.byOutpoint.size === 0) return undefined;
    const changed = new Map<string, Registration>();
    for (const input of tx.vin) {
      if (input.txid === undefined) continue;
      for (const k of this.byOutpoint.get(`${input.txid}:${input.vout}`) ?? []) {
        const r = this.records.get(k) as SpendWatch;
        // A spend a block holds already stays that one (the mempool cannot hold a conflicting transaction).
        if (r.seen?.height != null || r.seen?.txid === tx.txid) continue;
        changed.set(k, { ...r, seen: { txid: tx.txid, hex: tx.hex ?? '', height: null, block_hash: null } });
      }
    }
    return this.write(changed, [], undefined);
  }

  /** The step's writes; once durable, memory takes them and the rooms concerned are told. */
  private write(changed: Map<string, Registration>, alsoLook: string[], height: number | undefined): ListenerWrite | undefined {
    if (changed.size === 0 && alsoLook.length === 0 && height === undefined) return undefined;
    const ops: BatchOp[] = [...changed].map(([k, r]) => ({ type: 'put', sublevel: this.db, key: k, value: r }));
    return {
      ops,
      after: () => {
        if (height !== undefined) this.height = height;
        for (const [k, r] of changed) if (this.records.has(k)) this.records.set(k, r);
        this.deliver([...changed.keys(), ...alsoLook]);
      },
    };
  }

  /** What a room would be told of a registration now: its spend, or its confirmation once deep enough. */
  private toldOf(r: Registration): Told | undefined {
    if (!r.seen) return undefined;
    if (r.kind === 's') return { txid: r.seen.txid, height: r.seen.height, block_hash: r.seen.block_hash };
    const tip = this.height ?? this.tip()?.height;
    if (tip === undefined || tip - r.seen.height + 1 < r.depth) return undefined;
    return { txid: r.txid, height: r.seen.height, block_hash: r.seen.block_hash };
  }

  private deliver(keys: string[]): void {
    const byRoom = new Map<string, string[]>();
    for (const k of new Set(keys)) {
      const room = this.records.get(k)?.room;
      if (room && this.handlers.has(room)) byRoom.set(room, [...(byRoom.get(room) ?? []), k]);
    }
    for (const [room, ks] of byRoom) {
      const next = (this.queues.get(room) ?? Promise.resolve()).then(async () => {
        for (const k of ks)
          await this.tell(k).catch((err: Error) =>
            this.log.warn({ registration: k, reason: err.message }, 'chain notification not delivered; delivered again at the next change or start'),
          );
      });
      this.queues.set(room, next);
    }
  }

  /** Tells the room what changed for one registration since it was last told, then keeps what it was told. */
  private async tell(key: string): Promise<void> {
    const r = this.records.get(key);
    const h = r && this.handlers.get(r.room);
    if (!r || !h) return;
    const was = this.told.get(key);
    const now = this.toldOf(r);
    if (sameTold(was, now)) return;
    // A confirmation told already whose block is still in the chain (a rewind above it only) is no news either.
    if (r.kind === 'c' && was && r.seen?.block_hash === was.block_hash) return;
    // A confirmation waiting for its depth, and a mempool spend that is not known any more, are no news.
    if (now === undefined && (was === undefined || was.block_hash === null)) return;
    if (was?.block_hash) {
      const e: ReorgEvent = { id: r.id, kind: r.kind === 's' ? 'spend' : 'confirm', txid: was.txid, height: was.height!, block_hash: was.block_hash };
      if (r.kind === 's') e.outpoint = r.outpoint;
      await h.reorged?.(e);
    }
    if (now && r.kind === 's')
      await h.spent?.({ id: r.id, outpoint: r.outpoint, txid: now.txid, hex: r.seen!.hex, height: now.height, block_hash: now.block_hash });
    if (now && r.kind === 'c') {
      const tip = this.height ?? this.tip()?.height ?? now.height!;
      await h.confirmed?.({ id: r.id, txid: r.txid, height: now.height!, block_hash: now.block_hash!, confirmations: tip - now.height! + 1 });
    }
    if (!this.records.has(key)) return; // forgotten while the room was being told
    if (now) {
      await this.store.batch([{ type: 'put', sublevel: this.db, key: toldKey(key), value: now }]);
      this.told.set(key, now);
    } else {
      await this.store.batch([this.del(toldKey(key))]);
      this.told.delete(key);
    }
  }

  private index(key: string, r: Registration): void {
    this.records.set(key, r);
    const map = r.kind === 's' ? this.byOutpoint : this.byTxid;
    const t = targetOf(r);
    if (!map.has(t)) map.set(t, new Set());
    map.get(t)!.add(key);
  }

  private del(key: string): BatchOp {
    return { type: 'del', sublevel: this.db, key };
  }
}
