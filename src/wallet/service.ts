// The wallet room's service: the accounts (from the HSM, kept once known), the script book (every address derived
// up to the gap limit past the last one used), the ledger following the chain through the bitcoin room, the coin
// reservations, and spending. One critical section (the wallet lock) covers every read-check-write of coins:
// following a block, choosing and promising coins, recording a transaction just sent.

import type { Logger } from 'pino';
import * as bitcoin from 'bitcoinjs-lib';
import { rpcError } from '../core/errors.js';
import type { EventBus } from '../core/events.js';
import { KeyedLock } from '../core/keyed-lock.js';
import { HealthCell, type Health, type Service } from '../core/service.js';
import type { BatchOp, RoomDb, Store } from '../core/store.js';
import type { BitcoinApi, ListenerWrite, VerboseBlock, VerboseTx } from '../adapters/bitcoin/api.js';
import type { HsmApi } from '../hsm/api.js';
import { AccountKeys, ADDRESS_TYPES, descriptorOf, type Account, type AddressType, type Chain, type Derived, type KeyPlace } from './keys.js';
import { Ledger, outpointOf, type Coin, type TxChange } from './ledger.js';
import { Reservations } from './reservations.js';
import { buildPsbt, pickCoins, select, type Funded, type Recipient } from './spend.js';
import { WALLET_TX } from './topics.js';

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
  private readonly keys = new Map<AddressType, AccountKeys>();
  /** Script (hex) → where it comes from: every address up to the gap limit past the last one used or handed out. */
  private readonly book = new Map<string, KeyPlace>();
  /** Per "type:chain": how far the book reaches, and the next index to hand out. */
  private readonly reach = new Map<string, number>();
  private readonly next = new Map<string, number>();
  readonly ledger: Ledger;
  readonly reservations: Reservations;
  private seq = 0;

  constructor(private readonly s: WalletSettings) {
    this.ledger = new Ledger(s.db, (script) => this.lookup(script));
    this.reservations = new Reservations(s.db);
  }

  health(): Health {
    return this.cell.get();
  }

  async open(): Promise<void> {
    await this.ledger.load();
    await this.reservations.load();
    this.seq = ((await this.s.db.get('m:seq')) as number | undefined) ?? 0;
    for await (const [k, v] of this.s.db.iterator({ gte: 'n:', lt: 'n;' })) this.next.set(k.slice(2), v as number);
    const saved = (await this.s.db.get('m:accounts')) as Account[] | undefined;
    const accounts = saved ?? (await this.fetchAccounts());
    if (!saved) await this.s.store.batch([{ type: 'put', sublevel: this.s.db, key: 'm:accounts', value: accounts }]);
    for (const a of accounts) this.keys.set(a.type, new AccountKeys(a, this.s.network));
    for (const t of ADDRESS_TYPES) for (const c of [0, 1] as Chain[]) this.extend(t, c);
    this.s.chain.listen({
      connected: (b) => this.lock.run('wallet', () => this.onBlock(b)),
      rewound: (tip) => this.lock.run('wallet', () => this.onRewind(tip.height)),
      mempool: (tx) => this.lock.run('wallet', () => this.onMempool(tx)),
    });
    this.cell.set('ok', `following ${this.ledger.coins.size} coins in ${accounts.length} accounts`);
  }

  async close(): Promise<void> {
    await this.lock.run('wallet', async () => undefined);
    this.cell.set('stopped', 'closed');
  }

  private async fetchAccounts(): Promise<Account[]> {
    const refusal = this.s.hsm.walletRefusal();
    if (refusal) throw new Error(`the wallet cannot use this HSM: ${refusal}`);
    return Promise.all(ADDRESS_TYPES.map((t) => this.s.hsm.walletAccount(t)));
  }

  /** Derives the book further so it reaches `gap` past the last index used or handed out on the chain. */
  private extend(type: AddressType, chain: Chain): void {
    const k = `${type}:${chain}`;
    const keys = this.keys.get(type);
    if (!keys) return;
    const want = Math.max(this.ledger.used.get(k) ?? -1, (this.next.get(k) ?? 0) - 1) + this.s.gapLimit;
    for (let i = (this.reach.get(k) ?? -1) + 1; i <= want; i++) this.book.set(keys.derive(chain, i).script.toString('hex'), { type, chain, index: i });
    this.reach.set(k, Math.max(want, this.reach.get(k) ?? -1));
  }

  private lookup(script: string): KeyPlace | undefined {
    const place = this.book.get(script);
    if (place) {
      // A payment to this index moves the gap: derive ahead at once, so a later output of the same block is found.
      const k = `${place.type}:${place.chain}`;
      if ((this.ledger.used.get(k) ?? -1) < place.index) {
        this.ledger.used.set(k, place.index);
        this.extend(place.type, place.chain);
      }
    }
    return place;
  }

  derived(c: KeyPlace): Derived {
    return this.keys.get(c.type)!.derive(c.chain, c.index);
  }

  /** Writes the step's events with it (numbered, so a subscriber can tell one it saw), published once durable. */
  private events(changes: TxChange[], ops: BatchOp[]): () => void {
    if (changes.length === 0) return () => undefined;
    const out = changes.map((c) => {
      const t = this.ledger.txs.get(c.txid)!;
      return { seq: ++this.seq, ...c, amount_sat: t.received_sat - t.sent_sat, fee_sat: t.fee_sat };
    });
    ops.push({ type: 'put', sublevel: this.s.db, key: 'm:seq', value: this.seq });
    return () => out.forEach((e) => this.s.bus.publish(WALLET_TX, e));
  }

  private async onBlock(b: VerboseBlock): Promise<ListenerWrite> {
    const ops: BatchOp[] = [];
    const changes: TxChange[] = [];
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
    return this.s.chain.tip()?.height ?? 0;
  }

  mature(c: Coin, tip = this.tip()): boolean {
    return !c.coinbase || (c.height !== null && tip - c.height + 1 >= COINBASE_MATURITY);
  }

  balance(): { confirmed_sat: number; unconfirmed_sat: number; immature_sat: number; reserved_sat: number; total_sat: number } {
    const tip = this.tip();
    const b = { confirmed_sat: 0, unconfirmed_sat: 0, immature_sat: 0, reserved_sat: 0, total_sat: 0 };
    for (const [o, c] of this.ledger.coins) {
      if (!this.mature(c, tip)) b.immature_sat += c.value_sat;
      else if (c.height === null) b.unconfirmed_sat += c.value_sat;
      else b.confirmed_sat += c.value_sat;
      if (this.reservations.of(o)) b.reserved_sat += c.value_sat;
      b.total_sat += c.value_sat;
    }
    return b;
  }

  /** Hands out the next address of a chain (receive or change), never the same one twice. */
  async newAddress(type: AddressType, chain: Chain): Promise<Derived> {
    if (!this.keys.has(type)) throw rpcError('InvalidParams', `no ${type} account in this wallet`);
    return this.lock.run('wallet', async () => {
      const k = `${type}:${chain}`;
      const index = this.next.get(k) ?? 0;
      await this.s.store.batch([{ type: 'put', sublevel: this.s.db, key: `n:${k}`, value: index + 1 }]);
      this.next.set(k, index + 1);
      this.extend(type, chain);
      return this.derived({ type, chain, index });
    });
  }

  descriptors(): Array<{ desc: string; type: AddressType; internal: boolean; next_index: number; range_end: number }> {
    return [...this.keys.values()].flatMap((k) =>
      ([0, 1] as Chain[]).map((chain) => ({
        desc: descriptorOf(k.account, chain),
        type: k.account.type,
        internal: chain === 1,
        next_index: this.next.get(`${k.account.type}:${chain}`) ?? 0,
        range_end: this.reach.get(`${k.account.type}:${chain}`) ?? 0,
      })),
    );
  }

  /**
   * The coins a new spend may use for `holder`, mature and not promised to another: the confirmed ones, then (as
   * Core's wallet falls back to) our own unconfirmed change whose chain of unconfirmed ancestors stays under the
   * relay limit (25 with the new transaction): a longer chain is refused by the node's mempool.
   */
  private spendable(holder: string, unconfirmed = false): Coin[] {
    const tip = this.tip();
    return [...this.ledger.coins.entries()]
      .filter(([o, c]) => this.mature(c, tip) && this.reservations.freeFor(o, holder))
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

  private async feeRate(given: number | undefined, target: number): Promise<number> {
    if (given !== undefined) return given;
    const est = await this.s.chain.coreEstimate(target).catch(() => null);
    if (est !== null) return est;
    if (this.s.fallbackFeeRate > 0) return this.s.fallbackFeeRate;
    throw rpcError('InvalidParams', `the node has no fee estimate for ${target} blocks and wallet.fallbackfee is 0: give fee_rate (sat/vB)`);
  }

  /** Chooses coins, promises them to the holder and answers the PSBT: one critical section with every other spend. */
  async fund(o: FundOptions): Promise<Funded & { reserved_until: number }> {
    const rate = await this.feeRate(o.fee_rate, o.conf_target);
    const keys = this.keys.get('wpkh') ?? [...this.keys.values()][0];
    if (!keys) throw rpcError('Unsupported', 'the wallet has no account');
    return this.lock.run('wallet', async () => {
      let candidates = this.spendable(o.holder);
      const want = o.outputs.reduce((s, x) => s + x.amount_sat, 0);
      if (o.inputs || candidates.reduce((s, c) => s + c.value_sat, 0) < want * 1.1 + 100_000) candidates = this.spendable(o.holder, true);
      if (o.inputs) {
        const free = new Map(candidates.map((c) => [outpointOf(c.txid, c.vout), c]));
        candidates = o.inputs.map((i, n) => {
          const op = outpointOf(i.txid, i.vout);
          const c = free.get(op);
          if (c) return c;
          const why = !this.ledger.coins.has(op) ? 'is not an unspent coin of this wallet' : 'is promised to another holder or not yet spendable';
          throw rpcError(this.ledger.coins.has(op) ? 'Conflict' : 'InvalidParams', `inputs[${n}] ${op} ${why}`);
        });
      }
      const change = (): Derived => {
        const k = `${keys.account.type}:1`;
        const index = this.next.get(k) ?? 0;
        this.next.set(k, index + 1);
        this.extend(keys.account.type, 1);
        return keys.derive(1, index);
      };
      const req = {
        outputs: o.outputs,
        feeRate: rate,
        subtractFrom: o.subtract_fee_from_outputs,
        replaceable: o.replaceable,
        candidates,
        only: o.inputs !== undefined,
        maxFee: this.s.maxFeeSat,
        tipHeight: this.tip(),
      };
      const sel = select(req, this.s.network);
      const prev = await this.previousTransactions(sel.inputs.filter((c) => c.type === 'wpkh'));
      const funded = buildPsbt(sel, req, this.s.network, { change, origin: (c) => this.derived(c), fingerprint: keys.fingerprint, prevTx: (t) => prev.get(t) });
      const ops: BatchOp[] = [];
      const r = this.reservations.take(
        funded.inputs.map((c) => outpointOf(c.txid, c.vout)),
        o.holder,
        o.reserveMs ?? this.s.reserveMs,
        ops,
      );
      for (const [k, v] of this.next) ops.push({ type: 'put', sublevel: this.s.db, key: `n:${k}`, value: v });
      await this.s.store.batch(ops);
      return { ...funded, reserved_until: r.expires_at };
    });
  }

  /** The transactions that made these coins (raw), for the inputs' non_witness_utxo. */
  private async previousTransactions(coins: Coin[]): Promise<Map<string, Buffer>> {
    const out = new Map<string, Buffer>();
    for (const c of coins) {
      if (out.has(c.txid)) continue;
      const blockHash = this.ledger.txs.get(c.txid)?.block_hash ?? undefined;
      out.set(c.txid, Buffer.from(await this.s.chain.rawTransaction(c.txid, blockHash), 'hex'));
    }
    return out;
  }

  async release(outpoints: string[] | undefined, holder: string | undefined): Promise<string[]> {
    return this.lock.run('wallet', async () => {
      const ops: BatchOp[] = [];
      const out = this.reservations.release(outpoints, holder, ops);
      if (ops.length > 0) await this.s.store.batch(ops);
      return out;
    });
  }

  /** Funds, signs through the HSM (its policy decides), broadcasts, and records the transaction as ours at once. */
  async send(o: FundOptions, caller: string): Promise<{ txid: string; fee_sat: number; hex: string }> {
    const funded = await this.fund(o);
    try {
      const signed = await this.s.hsm.signPsbt(funded.psbt.toBase64(), caller);
      const fin = await this.s.chain.finalizePsbt(signed.psbt);
      if (!fin.complete || !fin.hex)
        throw rpcError('PolicyDenied', 'the HSM did not sign every input of the transaction', { rule: 'incomplete', signed: signed.signed });
      const txid = await this.s.chain.broadcast(fin.hex, 'the wallet transaction');
      await this.record(fin.hex);
      return { txid, fee_sat: funded.fee_sat, hex: fin.hex };
    } catch (err) {
      await this.release(undefined, o.holder);
      throw err;
    }
  }

  /** A transaction of ours just broadcast: its coins are spent now, not at the next mempool look. */
  async record(hex: string): Promise<void> {
    const tx = this.s.chain.decode(hex);
    await this.lock.run('wallet', async () => {
      const w = await this.onMempool(tx);
      if (w.ops.length > 0) await this.s.store.batch(w.ops);
      w.after?.();
    });
  }

  /** WalletApi.reserveCoins: coins for another room's transaction (a DLC's or a channel's funding), promised to it. */
  async reserveCoins(req: { amount_sat: number; fee_rate: number; holder: string; reserve_sec: number }): Promise<{ coins: Coin[]; change: Derived }> {
    const keys = this.keys.get('wpkh') ?? [...this.keys.values()][0];
    if (!keys) throw rpcError('Unsupported', 'the wallet has no account');
    return this.lock.run('wallet', async () => {
      // P2WPKH only: what another room's funding PSBT and a DLC input's max_witness_len are made for.
      const candidates = this.spendable(req.holder).filter((c) => c.type === 'wpkh');
      // The funding output is a P2WSH (43 vB); the other room adds its own outputs' weight to its fee.
      const chosen = pickCoins(candidates, req.amount_sat, req.fee_rate);
      if (!chosen) {
        const total = candidates.reduce((s, c) => s + c.value_sat, 0);
        throw rpcError('InvalidParams', `insufficient funds: ${req.amount_sat} sat needed at ${req.fee_rate} sat/vB, ${total} sat available in the wallet`, {
          available_sat: total,
          amount_sat: req.amount_sat,
        });
      }
      const ops: BatchOp[] = [];
      this.reservations.take(
        chosen.map((c) => outpointOf(c.txid, c.vout)),
        req.holder,
        req.reserve_sec * 1000,
        ops,
      );
      const k = `${keys.account.type}:1`;
      const index = this.next.get(k) ?? 0;
      this.next.set(k, index + 1);
      this.extend(keys.account.type, 1);
      ops.push({ type: 'put', sublevel: this.s.db, key: `n:${k}`, value: index + 1 });
      await this.s.store.batch(ops);
      return { coins: chosen, change: keys.derive(1, index) };
    });
  }

  /** What another room's PSBT input needs of each coin: the transaction that made it and the key origin. */
  async inputDetails(coins: Coin[]): Promise<Array<{ prev_tx: string; origin: { fingerprint: string; path: string; pubkey: string } }>> {
    const prev = await this.previousTransactions(coins);
    return coins.map((c) => {
      const d = this.derived(c);
      const fingerprint = this.keys.get(c.type)!.fingerprint.toString('hex');
      return { prev_tx: prev.get(c.txid)!.toString('hex'), origin: { fingerprint, path: d.path, pubkey: d.pubkey.toString('hex') } };
    });
  }
}
