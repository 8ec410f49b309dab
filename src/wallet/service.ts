// The wallet room's service: the accounts (from the HSM, kept once known), the script book (every address derived
// up to the gap limit past the last one used), the ledger following the chain through the bitcoin room, the coin
// reservations, and spending. One critical section (the wallet lock) covers every read-check-write of coins:
// following a block, choosing and promising coins, recording a transaction just sent.

import type { Logger } from 'pino';
import { LRUCache } from 'lru-cache';
import * as bitcoin from 'bitcoinjs-lib';
import { rpcError } from '../core/errors.js';
import type { EventBus } from '../core/events.js';
import { KeyedLock } from '../core/keyed-lock.js';
import { HealthCell, type Health, type Service } from '../core/service.js';
import type { BatchOp, RoomDb, Store } from '../core/store.js';
import type { BitcoinApi, ListenerWrite, VerboseBlock, VerboseTx } from '../adapters/bitcoin/api.js';
import type { HsmApi } from '../hsm/api.js';
import { AccountKeys, ADDRESS_TYPES, chainKeyOf, descriptorOf, type Account, type AddressType, type Chain, type Derived, type KeyPlace } from './keys.js';
import { EventLog } from './event-log.js';
import { Ledger, outpointOf, type Coin, type TxChange } from './ledger.js';
import { Reservations } from './reservations.js';
import type { Recipient } from './spend.js';
import { WALLET_TX } from './topics.js';
import { WatchBook } from './watch-book.js';
import { checkWatchRequest, type WatchDescriptor, type WatchRequest } from './watchonly.js';

export interface WalletSettings {
  db: RoomDb;
  store: Store;
  bus: EventBus;
  log: Logger;
  chain: BitcoinApi;
  hsm: HsmApi;
  network: bitcoin.Network;
  gapLimit: number;
  maxFeeSat: number;
  fallbackFeeRate: number;
  reserveMs: number;
  /** How many wallet.tx events the log keeps for wallet.listevents (wallet.eventlog). */
  eventLogSize: number;
}

export interface FundOptions {
  outputs: Recipient[];
  fee_rate?: number;
  conf_target: number;
  inputs?: Array<{ txid: string; vout: number }>;
  subtract_fee_from_outputs: number[];
  replaceable: boolean;
  holder: string;
  reserveMs?: number;
  /** Fund from the watch-only descriptors' coins only (a PSBT for their key holders to sign elsewhere). */
  watchonly?: boolean;
}

const COINBASE_MATURITY = 100;
/** The node's default ancestor limit for a mempool transaction (Core's -limitancestorcount, bcoin's MAX_ANCESTORS). */
const MAX_ANCESTORS = 24;

export class WalletService implements Service {
  readonly name = 'wallet';
  readonly requires = ['bitcoind', 'hsm'];
  readonly optional = true;
  private readonly cell = new HealthCell();
  private readonly lock = new KeyedLock();
  /** When this run started: promises older than it were made by an earlier run (sweepOrphans). */
  private readonly startedAt = Date.now();
  private opened!: () => void;
  private readonly ready = new Promise<void>((resolve) => (this.opened = resolve));
  private readonly keys = new Map<AddressType, AccountKeys>();
  /** Script (hex) → where it comes from: every address up to the gap limit past the last one used or handed out. */
  private readonly book = new Map<string, KeyPlace>();
  /** "type:chain:index" → the derived key, for every entry of the book (listunspent names each coin's address). */
  private readonly known = new Map<string, Derived>();
  /** Per "type:chain": how far the book reaches, and the next index to hand out. */
  private readonly reach = new Map<string, number>();
  private readonly next = new Map<string, number>();
  /** The imported watch-only descriptors, their share of the book. */
  readonly watched: WatchBook;
  readonly ledger: Ledger;
  readonly reservations: Reservations;
  /** Previous transactions fetched for P2WPKH inputs' non_witness_utxo (a funding reuses them), 16 MiB at most. */
  readonly prevTxs = new LRUCache<string, Buffer>({ maxSize: 16 * 1024 * 1024, sizeCalculation: (b) => b.length });
  /** The wallet.tx events, numbered and kept with the steps that made them (wallet.listevents). */
  readonly eventLog: EventLog;
  /** The first block followed while the accounts were out of reach (keystore locked or not yet restored). */
  private blindFrom: number | undefined;
  /** Set when the keystore holds another seed than the accounts this wallet follows: nothing is spent then. */
  private foreignSeed: string | undefined;

  constructor(readonly settings: WalletSettings) {
    const s = settings;
    this.ledger = new Ledger(s.db, (script) => this.lookup(script));
    this.reservations = new Reservations(s.db);
    this.eventLog = new EventLog({ db: s.db, keep: s.eventLogSize, log: s.log, publish: (e) => s.bus.publish(WALLET_TX, e) });
    this.watched = new WatchBook({ db: s.db, network: s.network, gapLimit: s.gapLimit, book: this.book, used: this.ledger.used, next: this.next });
  }

  health(): Health {
    return this.cell.get();
  }

  async open(): Promise<void> {
    await this.ledger.load();
    await this.reservations.load();
    await this.eventLog.load();
    for await (const [k, v] of this.settings.db.iterator({ gte: 'n:', lt: 'n;' })) this.next.set(k.slice(2), v as number);
    this.blindFrom = (await this.settings.db.get('m:blindfrom')) as number | undefined;
    for await (const [, v] of this.settings.db.iterator({ gte: 'd:', lt: 'd;' })) this.watched.add(v as WatchDescriptor);
    const saved = (await this.settings.db.get('m:accounts')) as Account[] | undefined;
    if (saved) {
      this.useAccounts(saved);
      await this.checkSeed(saved);
    } else await this.accounts().catch((err: unknown) => this.cell.set('degraded', `no accounts yet: ${(err as Error).message}`));
    this.settings.chain.listen({
      connected: (b) => this.lock.run('wallet', async () => this.onBlock(b)),
      rewound: (tip) => this.lock.run('wallet', () => this.onRewind(tip.height)),
      mempool: (tx) => this.lock.run('wallet', () => this.onMempool(tx)),
    });
    this.opened();
  }

  /**
   * Gives back the promises an earlier run made to holders `<prefix>…` whose record is gone (WalletApi.adoptHolders):
   * once the wallet is open, under its lock. Answers the outpoints given back.
   */
  async sweepOrphans(prefix: string, exists: (holder: string) => Promise<boolean>): Promise<string[]> {
    await this.ready;
    return this.lock.run('wallet', async () => {
      const orphans = new Set<string>();
      for (const r of this.reservations.list())
        if (r.holder.startsWith(prefix) && r.created_at < this.startedAt && !orphans.has(r.holder) && !(await exists(r.holder))) orphans.add(r.holder);
      const ops: BatchOp[] = [];
      const out = [...orphans].flatMap((h) => this.reservations.release(undefined, h, ops));
      if (ops.length === 0) return out;
      await this.settings.store.batch(ops);
      this.settings.log.warn(
        { holders: [...orphans], outpoints: out },
        'coins promised to holders whose records do not exist (a crash between the promise and the record) given back',
      );
      return out;
    });
  }

  private useAccounts(accounts: Account[]): void {
    for (const a of accounts) this.keys.set(a.type, new AccountKeys(a, this.settings.network));
    for (const t of ADDRESS_TYPES) for (const c of [0, 1] as Chain[]) this.extend(t, c);
    const blind = this.blindFrom === undefined ? '' : `; blocks from ${this.blindFrom} were followed without them: run wallet.rescan`;
    this.cell.set('ok', `following ${this.ledger.coins.size} coins in ${accounts.length} accounts${blind}`);
  }

  /**
   * A keystore replaced under a datadir (its file removed, another made or restored) holds other accounts than the
   * ones followed: the wallet's coins are not its keys', and its addresses would pay a seed the keystore cannot sign
   * for. Checked at start when the keystore is open; the wallet then refuses to hand out addresses or spend.
   */
  private async checkSeed(saved: Account[]): Promise<void> {
    const now = await this.fetchAccounts().catch(() => undefined);
    const differs = now?.find((a) => saved.find((s) => s.type === a.type)?.xpub !== a.xpub);
    if (!differs) return;
    this.foreignSeed = `the keystore's seed (fingerprint ${differs.fingerprint}) is not the one this wallet follows (fingerprint ${saved[0]!.fingerprint}): restore that seed's keystore, or use a fresh datadir for this one`;
    this.cell.set('failed', this.foreignSeed);
  }

  /**
   * The accounts, fetched from the HSM once and kept ('m:accounts'): a keystore locked at start, or restored from its
   * words into a fresh datadir (hsm.restorekeystore), gives them at the first call after it is open.
   */
  async accounts(): Promise<void> {
    if (this.keys.size > 0) return;
    const accounts = await this.fetchAccounts();
    await this.lock.run('wallet', async () => {
      if (this.keys.size > 0) return;
      await this.settings.store.batch([{ type: 'put', sublevel: this.settings.db, key: 'm:accounts', value: accounts }]);
      this.useAccounts(accounts);
    });
  }

  async close(): Promise<void> {
    await this.lock.run('wallet', async () => undefined);
    this.eventLog.close();
    this.cell.set('stopped', 'closed');
  }

  private async fetchAccounts(): Promise<Account[]> {
    const refusal = this.settings.hsm.walletRefusal();
    if (refusal) throw rpcError('Unsupported', `the wallet cannot use this HSM: ${refusal}`);
    return Promise.all(ADDRESS_TYPES.map((t) => this.settings.hsm.walletAccount(t)));
  }

  /** The wallet's critical section, for the modules that act on its coins (bump.ts, rescan.ts). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.lock.run('wallet', fn);
  }

  /** Derives the book further so it reaches `gap` past the last index used or handed out on the chain. */
  private extend(type: AddressType, chain: Chain): void {
    const k = `${type}:${chain}`;
    const keys = this.keys.get(type);
    if (!keys) return;
    const want = Math.max(this.ledger.used.get(k) ?? -1, (this.next.get(k) ?? 0) - 1) + this.settings.gapLimit;
    for (let i = (this.reach.get(k) ?? -1) + 1; i <= want; i++) {
      const d = keys.derive(chain, i);
      this.book.set(d.script.toString('hex'), { type, chain, index: i });
      this.known.set(`${k}:${i}`, d);
    }
    this.reach.set(k, Math.max(want, this.reach.get(k) ?? -1));
  }

  private lookup(script: string): KeyPlace | undefined {
    const place = this.book.get(script);
    if (place) {
      // A payment to this index moves the gap: derive ahead at once, so a later output of the same block is found.
      const k = chainKeyOf(place);
      if ((this.ledger.used.get(k) ?? -1) < place.index) {
        this.ledger.used.set(k, place.index);
        if (place.watch !== undefined) this.watched.extend(place.watch);
        else this.extend(place.type as AddressType, place.chain);
      }
    }
    return place;
  }

  /** Where a coin's script comes from, for listunspent: its address and key path (a watched one: descriptor/index). */
  placeOf(c: KeyPlace): { address: string; path: string } {
    return c.watch === undefined ? this.derived(c) : this.watched.place(c);
  }

  /**
   * wallet.importdescriptors: every request checked first (one bad request refuses the call, naming it), then kept
   * and followed. Importing a descriptor again updates its range, label and internal flag (as Core does).
   */
  async importDescriptors(requests: WatchRequest[]): Promise<Array<{ id: string; desc: string; range: [number, number]; type: string }>> {
    const now = Math.floor(Date.now() / 1000);
    const checked = requests.map((r, i) => checkWatchRequest(r, this.settings.network, `requests[${i}]`, now));
    const accountDescs = new Set(
      this.descriptors()
        .filter((d) => !d.watch_only)
        .map((d) => d.desc.split('#')[1]),
    );
    checked.forEach((w, i) => {
      if (accountDescs.has(w.id)) throw rpcError('InvalidParams', `requests[${i}]: the descriptor is one of the wallet's own accounts`);
    });
    return this.lock.run('wallet', async () => {
      const ops: BatchOp[] = checked.map((w) => ({ type: 'put', sublevel: this.settings.db, key: `d:${w.id}`, value: w }));
      await this.settings.store.batch(ops);
      for (const w of checked) this.watched.add(w);
      return checked.map((w) => ({ id: w.id, desc: w.desc, range: w.range, type: w.type }));
    });
  }

  /** A key of ours with its address and path: kept from when the book derived it (a derivation costs ~1 ms). */
  derived(c: KeyPlace): Derived {
    const k = `${c.type}:${c.chain}:${c.index}`;
    let d = this.known.get(k);
    if (!d) this.known.set(k, (d = this.keys.get(c.type as AddressType)!.derive(c.chain, c.index)));
    return d;
  }

  /** Writes the step's events with it (numbered and logged: event-log.ts), published in order once durable. */
  private events(changes: TxChange[], ops: BatchOp[]): () => void {
    if (changes.length === 0) return () => undefined;
    const out = changes.map((c) => {
      const t = this.ledger.txs.get(c.txid)!;
      return { ...c, amount_sat: t.received_sat - t.sent_sat, fee_sat: t.fee_sat };
    });
    return this.eventLog.append(out, ops);
  }

  /** Applies one block (from the watcher, or a rescan under the wallet lock): idempotent, as the ledger is. */
  onBlock(b: VerboseBlock): ListenerWrite {
    const ops: BatchOp[] = [];
    const changes: TxChange[] = [];
    if (this.keys.size === 0 && this.blindFrom === undefined) {
      // Nothing can be matched without the accounts: say from where a rescan must look once they are known.
      this.blindFrom = b.height;
      ops.push({ type: 'put', sublevel: this.settings.db, key: 'm:blindfrom', value: b.height });
    }
    for (const tx of b.tx) this.ledger.apply(tx, { height: b.height, hash: b.hash }, ops, changes);
    for (const c of changes) if (c.status !== 'conflicted') this.forgetSpent(c.txid, ops);
    this.ledger.prune(b.height - 1000, ops);
    return { ops, after: this.events(changes, ops) };
  }

  private async onMempool(tx: VerboseTx): Promise<ListenerWrite> {
    const ops: BatchOp[] = [];
    const changes: TxChange[] = [];
    if (this.ledger.apply(tx, null, ops, changes)) this.forgetSpent(tx.txid, ops);
    return { ops, after: this.events(changes, ops) };
  }

  private async onRewind(height: number): Promise<ListenerWrite> {
    const ops: BatchOp[] = [];
    const changes: TxChange[] = [];
    this.ledger.rewind(height, ops, changes);
    return { ops, after: this.events(changes, ops) };
  }

  /** Coins a transaction spent keep no promise. */
  private forgetSpent(txid: string, ops: BatchOp[]): void {
    for (const c of this.ledger.txs.get(txid)?.spent ?? []) this.reservations.forget(outpointOf(c.txid, c.vout), ops);
  }

  tip(): number {
    return this.settings.chain.tip()?.height ?? 0;
  }

  mature(c: Coin, tip = this.tip()): boolean {
    return !c.coinbase || (c.height !== null && tip - c.height + 1 >= COINBASE_MATURITY);
  }

  /** The balance of the seed's coins; the watch-only coins apart (watchonly_sat), never in the spendable totals. */
  balance(): { confirmed_sat: number; unconfirmed_sat: number; immature_sat: number; reserved_sat: number; total_sat: number; watchonly_sat: number } {
    const tip = this.tip();
    const b = { confirmed_sat: 0, unconfirmed_sat: 0, immature_sat: 0, reserved_sat: 0, total_sat: 0, watchonly_sat: 0 };
    for (const [o, c] of this.ledger.coins) {
      if (c.watch !== undefined) {
        b.watchonly_sat += c.value_sat;
        continue;
      }
      if (!this.mature(c, tip)) b.immature_sat += c.value_sat;
      else if (c.height === null) b.unconfirmed_sat += c.value_sat;
      else b.confirmed_sat += c.value_sat;
      if (this.reservations.of(o)) b.reserved_sat += c.value_sat;
      b.total_sat += c.value_sat;
    }
    return b;
  }

  /** A rescan went over the blocks followed without the accounts. */
  sawBlind(ops: BatchOp[]): void {
    this.blindFrom = undefined;
    ops.push({ type: 'del', sublevel: this.settings.db, key: 'm:blindfrom' });
  }
  blindHeight(): number | undefined {
    return this.blindFrom;
  }
  /** A word on what the wallet is doing, in its health (a rescan's progress). */
  note(detail: string): void {
    this.cell.set('ok', detail);
  }

  /** The next unused index of a chain (past those handed out and those seen used, e.g. after a rescan), taken. */
  private takeIndex(type: AddressType, chain: Chain, ops: BatchOp[]): Derived {
    const k = `${type}:${chain}`;
    const index = Math.max(this.next.get(k) ?? 0, (this.ledger.used.get(k) ?? -1) + 1);
    this.next.set(k, index + 1);
    this.extend(type, chain);
    ops.push({ type: 'put', sublevel: this.settings.db, key: `n:${k}`, value: index + 1 });
    return this.derived({ type, chain, index });
  }

  /** The account change goes to (BIP84 when there is one). */
  changeKeys(): AccountKeys {
    if (this.foreignSeed) throw rpcError('Conflict', this.foreignSeed);
    const keys = this.keys.get('wpkh') ?? [...this.keys.values()][0];
    if (!keys) throw rpcError('Locked', 'the wallet has no accounts yet: unlock the keystore (hsm.unlock) or restore it (hsm.restorekeystore)');
    return keys;
  }

  /** A change address of ours, taken inside the wallet lock; `ops` make it durable with the caller's batch. */
  takeChange(ops: BatchOp[]): Derived {
    return this.takeIndex(this.changeKeys().account.type, 1, ops);
  }

  /** Hands out the next address of a chain (receive or change), never the same one twice. */
  async newAddress(type: AddressType, chain: Chain): Promise<Derived> {
    await this.accounts();
    if (this.foreignSeed) throw rpcError('Conflict', this.foreignSeed);
    if (!this.keys.has(type)) throw rpcError('InvalidParams', `no ${type} account in this wallet`);
    return this.lock.run('wallet', async () => {
      const ops: BatchOp[] = [];
      const d = this.takeIndex(type, chain, ops);
      await this.settings.store.batch(ops);
      return d;
    });
  }

  descriptors(): Array<{ desc: string; type: string; internal: boolean; next_index: number; range_end: number; watch_only: boolean; label: string | null }> {
    const own = [...this.keys.values()].flatMap((k) =>
      ([0, 1] as Chain[]).map((chain) => ({
        desc: descriptorOf(k.account, chain),
        type: k.account.type as string,
        internal: chain === 1,
        next_index: this.next.get(`${k.account.type}:${chain}`) ?? 0,
        range_end: this.reach.get(`${k.account.type}:${chain}`) ?? 0,
        watch_only: false,
        label: null as string | null,
      })),
    );
    return [...own, ...this.watched.list()];
  }

  /**
   * The coins a new spend may use for `holder`, mature and not promised to another: the confirmed ones, then (as
   * Core's wallet falls back to) our own unconfirmed change whose chain of unconfirmed ancestors stays under the
   * relay limit (25 with the new transaction): a longer chain is refused by the node's mempool.
   */
  spendable(holder: string, unconfirmed = false, watchonly = false): Coin[] {
    const tip = this.tip();
    return [...this.ledger.coins.entries()]
      .filter(([o, c]) => (c.watch !== undefined) === watchonly && this.mature(c, tip) && this.reservations.freeFor(o, holder))
      .filter(([, c]) => c.height !== null || (unconfirmed && (this.ledger.txs.get(c.txid)?.spent.length ?? 0) > 0 && this.ancestors(c.txid) < MAX_ANCESTORS))
      .map(([, c]) => c)
      .sort((a, b) => (a.height === null ? 1 : 0) - (b.height === null ? 1 : 0) || b.value_sat - a.value_sat);
  }

  /** How many unconfirmed wallet transactions a transaction stands on, itself included. */
  private ancestors(txid: string, seen = new Set<string>()): number {
    const t = this.ledger.txs.get(txid);
    if (!t || t.status !== 'pending' || seen.has(txid)) return 0;
    seen.add(txid);
    let n = 1;
    for (const o of t.inputs) n += this.ancestors(o.slice(0, 64), seen);
    return n;
  }

  async release(outpoints: string[] | undefined, holder: string | undefined): Promise<string[]> {
    return this.lock.run('wallet', async () => {
      const ops: BatchOp[] = [];
      const out = this.reservations.release(outpoints, holder, ops);
      if (ops.length > 0) await this.settings.store.batch(ops);
      return out;
    });
  }

  /** A transaction of ours just broadcast: its coins are spent now, not at the next mempool look; its raw form kept. */
  async record(hex: string): Promise<void> {
    const tx = this.settings.chain.decode(hex);
    await this.lock.run('wallet', async () => {
      const w = await this.onMempool(tx);
      this.ledger.keepRaw(tx.txid, hex, w.ops);
      if (w.ops.length > 0) await this.settings.store.batch(w.ops);
      w.after?.();
    });
  }
}
