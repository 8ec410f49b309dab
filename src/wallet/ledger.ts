// The wallet's coins and transactions, as the chain shows them: every block the bitcoin room's watcher connects and
// every mempool transaction it sees is matched against the wallet's scripts (a map lookup per output) and against
// its coins (per input). What a step changes goes into the watcher's own batch (ChainListener), so the wallet moves
// with the watcher's tip, once per block, across restarts; a reorg rewinds block by block from the undo records.
//
// Records (the wallet sublevel): c:<txid>:<vout> a coin of ours not yet spent; t:<txid> a transaction that pays us
// or spends our coins; b:<height> what a block did (the transactions it confirmed), for the rewind; u:<type>:<chain>
// the highest index used on the chain. Conflicts: a transaction of ours still unconfirmed whose input a confirmed
// transaction spends is conflicted (Core's "conflicted"): its coins go, and the coins it spent come back. One whose
// input a mempool transaction spends was replaced (BIP125: the node let the new one in, so it evicted the old), and
// so is one that a confirmed transaction double-spends a coin of ours with (our own bump, confirmed unseen): it is
// 'replaced', naming the replacement. Unconfirmed wallet transactions spending its outputs go with it.

import type { BatchOp, RoomDb } from '../core/store.js';
import type { VerboseTx } from '../adapters/bitcoin/api.js';
import { chainKeyOf, type KeyPlace } from './keys.js';

export interface Coin extends KeyPlace {
  txid: string;
  vout: number;
  value_sat: number;
  /** The output script, hex. */
  script: string;
  /** The confirming block's height, or null while unconfirmed. */
  height: number | null;
  coinbase: boolean;
}

export type TxStatus = 'pending' | 'confirmed' | 'conflicted' | 'abandoned' | 'replaced';

export interface WalletTx {
  txid: string;
  status: TxStatus;
  height: number | null;
  block_hash: string | null;
  /** When the wallet first saw it (unix seconds). */
  time: number;
  coinbase: boolean;
  /** Our outputs' indexes, and their sum. */
  outputs: number[];
  received_sat: number;
  /** The coins of ours it spent (kept whole: a conflict gives them back), and their sum. */
  spent: Coin[];
  sent_sat: number;
  /** Every outpoint it spends (a confirmed spend of one of them by another transaction conflicts it). */
  inputs: string[];
  /** Known when every input was ours. */
  fee_sat: number | null;
  label?: string;
  /** The transaction that took its place (status replaced). */
  replaced_by?: string;
  /** The raw transaction, kept for the ones the wallet broadcast itself (wallet.bumpfee rebuilds from it). */
  hex?: string;
  /** It pays or spends a coin of an imported watch-only descriptor (Core's involvesWatchonly). */
  watch_only?: boolean;
}

/** A change the wallet reports (wallet.tx), made durable with the step that caused it. */
export interface TxChange {
  txid: string;
  status: 'received' | 'sent' | 'confirmed' | 'reorged' | 'conflicted' | 'abandoned' | 'replaced';
  height: number | null;
  replaced_by?: string;
}

const pad = (h: number): string => String(h).padStart(10, '0');
const sat = (btc: number): number => Math.round(btc * 1e8);
export const outpointOf = (txid: string, vout: number): string => `${txid}:${vout}`;

export class Ledger {
  readonly coins = new Map<string, Coin>();
  readonly txs = new Map<string, WalletTx>();
  /** Outpoint → the unconfirmed wallet transaction spending it. */
  private readonly pendingInputs = new Map<string, string>();
  private readonly blocks = new Map<number, { hash: string; confirmed: string[] }>();
  /** Highest index seen used, per type and chain ("wpkh:0") or watched descriptor ("w:<id>"). */
  readonly used = new Map<string, number>();

  constructor(
    private readonly db: RoomDb,
    /** Finds a script of ours (hex), deriving further ahead when an index is used. */
    private readonly ours: (scriptHex: string) => KeyPlace | undefined,
  ) {}

  /** Reads the ledger's own prefixes only (the room's sublevel also holds the event log, reservations, settings). */
  async load(): Promise<void> {
    for (const prefix of ['b', 'c', 't', 'u'])
      for await (const [k, v] of this.db.iterator({ gte: `${prefix}:`, lt: `${prefix};` })) {
        if (prefix === 'c') {
          const c = v as Coin;
          this.coins.set(outpointOf(c.txid, c.vout), c);
        } else if (prefix === 't') {
          const t = v as WalletTx;
          this.txs.set(t.txid, t);
          if (t.status === 'pending') for (const o of t.inputs) this.pendingInputs.set(o, t.txid);
        } else if (prefix === 'b') this.blocks.set(Number(k.slice(2)), v as { hash: string; confirmed: string[] });
        else this.used.set(k.slice(2), v as number);
      }
  }

  /** The unconfirmed wallet transaction spending this outpoint, if one does. */
  pendingSpenderOf(outpoint: string): string | undefined {
    return this.pendingInputs.get(outpoint);
  }

  private put(ops: BatchOp[], key: string, value: unknown): void {
    ops.push({ type: 'put', sublevel: this.db, key, value });
  }
  private del(ops: BatchOp[], key: string): void {
    ops.push({ type: 'del', sublevel: this.db, key });
  }

  private noteUsed(ops: BatchOp[], place: KeyPlace, index: number): void {
    const k = chainKeyOf(place);
    if ((this.used.get(k) ?? -1) >= index) return;
    this.used.set(k, index);
    this.put(ops, `u:${k}`, index);
  }

  /**
   * Applies one transaction, from a block (`at`) or the mempool (null). Answers what changed for wallet.tx, and
   * pushes the writes onto `ops`.
   */
  apply(tx: VerboseTx, at: { height: number; hash: string } | null, ops: BatchOp[], changes: TxChange[]): boolean {
    const known = this.txs.get(tx.txid);
    const inputs = tx.vin.filter((i) => i.txid !== undefined).map((i) => outpointOf(i.txid!, i.vout!));
    for (const o of inputs) this.conflictWith(o, tx.txid, at !== null, ops, changes);
    if (known) {
      if (!at || known.height !== null || known.status !== 'pending') return false;
      this.confirm(known, at, ops);
      changes.push({ txid: known.txid, status: 'confirmed', height: at.height });
      return true;
    }
    const coinbase = tx.vin.length > 0 && tx.vin[0]!.coinbase !== undefined;
    const mine: Coin[] = [];
    for (const o of tx.vout) {
      const place = this.ours(o.scriptPubKey.hex);
      if (!place) continue;
      mine.push({ ...place, txid: tx.txid, vout: o.n, value_sat: sat(o.value), script: o.scriptPubKey.hex, height: at?.height ?? null, coinbase });
    }
    const spent = inputs.map((o) => this.coins.get(o)).filter((c): c is Coin => c !== undefined);
    if (mine.length === 0 && spent.length === 0) return false;
    const received = mine.reduce((s, c) => s + c.value_sat, 0);
    const sentSat = spent.reduce((s, c) => s + c.value_sat, 0);
    const outSum = tx.vout.reduce((s, o) => s + sat(o.value), 0);
    const wtx: WalletTx = {
      txid: tx.txid,
      status: at ? 'confirmed' : 'pending',
      height: at?.height ?? null,
      block_hash: at?.hash ?? null,
      time: Math.floor(Date.now() / 1000),
      coinbase,
      outputs: mine.map((c) => c.vout),
      received_sat: received,
      spent,
      sent_sat: sentSat,
      inputs,
      fee_sat: !coinbase && spent.length === inputs.length ? sentSat - outSum : null,
      ...([...mine, ...spent].some((c) => c.watch !== undefined) ? { watch_only: true } : {}),
    };
    for (const c of spent) {
      this.coins.delete(outpointOf(c.txid, c.vout));
      this.del(ops, `c:${c.txid}:${c.vout}`);
    }
    for (const c of mine) {
      this.coins.set(outpointOf(c.txid, c.vout), c);
      this.put(ops, `c:${c.txid}:${c.vout}`, c);
      this.noteUsed(ops, c, c.index);
    }
    this.txs.set(wtx.txid, wtx);
    this.put(ops, `t:${wtx.txid}`, wtx);
    if (!at) for (const o of inputs) this.pendingInputs.set(o, wtx.txid);
    else this.noteInBlock(at, wtx.txid, ops);
    changes.push({ txid: wtx.txid, status: spent.length > 0 ? 'sent' : 'received', height: wtx.height });
    return true;
  }

  private confirm(t: WalletTx, at: { height: number; hash: string }, ops: BatchOp[]): void {
    t.status = 'confirmed';
    t.height = at.height;
    t.block_hash = at.hash;
    for (const o of t.inputs) if (this.pendingInputs.get(o) === t.txid) this.pendingInputs.delete(o);
    for (const v of t.outputs) {
      const c = this.coins.get(outpointOf(t.txid, v));
      if (c) {
        c.height = at.height;
        this.put(ops, `c:${c.txid}:${v}`, c);
      }
    }
    this.put(ops, `t:${t.txid}`, t);
    this.noteInBlock(at, t.txid, ops);
  }

  private noteInBlock(at: { height: number; hash: string }, txid: string, ops: BatchOp[]): void {
    const b = this.blocks.get(at.height) ?? { hash: at.hash, confirmed: [] };
    b.confirmed.push(txid);
    this.blocks.set(at.height, b);
    this.put(ops, `b:${pad(at.height)}`, b);
  }

  /**
   * Another transaction spends `outpoint`: an unconfirmed wallet transaction spending it too is replaced (the winner
   * is in the mempool, or double-spends a coin of ours) or conflicted (a confirmed spend by someone else).
   */
  private conflictWith(outpoint: string, winner: string, confirmed: boolean, ops: BatchOp[], changes: TxChange[]): void {
    const loser = this.pendingInputs.get(outpoint);
    if (loser === undefined || loser === winner) return;
    const t = this.txs.get(loser)!;
    const ourCoin = t.spent.some((c) => outpointOf(c.txid, c.vout) === outpoint);
    this.drop(t, !confirmed || ourCoin ? 'replaced' : 'conflicted', ops, changes, winner);
  }

  /**
   * Takes a transaction out: its coins go, the coins it spent come back (unless spent since). The unconfirmed wallet
   * transactions spending its outputs go first (they cannot be mined without it), with the same status.
   */
  private drop(t: WalletTx, status: 'conflicted' | 'abandoned' | 'replaced', ops: BatchOp[], changes: TxChange[], replacedBy?: string): void {
    for (const v of t.outputs) {
      const child = this.pendingInputs.get(outpointOf(t.txid, v));
      if (child !== undefined && child !== t.txid) this.drop(this.txs.get(child)!, status === 'replaced' ? 'conflicted' : status, ops, changes);
    }
    t.status = status;
    t.height = null;
    t.block_hash = null;
    if (status === 'replaced') t.replaced_by = replacedBy;
    changes.push({ txid: t.txid, status, height: null, ...(status === 'replaced' ? { replaced_by: replacedBy } : {}) });
    for (const o of t.inputs) if (this.pendingInputs.get(o) === t.txid) this.pendingInputs.delete(o);
    for (const v of t.outputs) {
      if (this.coins.delete(outpointOf(t.txid, v))) this.del(ops, `c:${t.txid}:${v}`);
    }
    for (const c of t.spent) {
      const back = { ...c };
      this.coins.set(outpointOf(c.txid, c.vout), back);
      this.put(ops, `c:${c.txid}:${c.vout}`, back);
    }
    this.put(ops, `t:${t.txid}`, t);
  }

  /** Every block above `height` left the main chain: its transactions go back to unconfirmed (coinbases are gone). */
  rewind(height: number, ops: BatchOp[], changes: TxChange[]): void {
    const above = [...this.blocks.keys()].filter((h) => h > height).sort((a, b) => b - a);
    for (const h of above) {
      for (const txid of this.blocks.get(h)!.confirmed) {
        const t = this.txs.get(txid);
        if (!t || t.height !== h) continue;
        if (t.coinbase) {
          this.drop(t, 'abandoned', ops, changes);
          continue;
        }
        t.status = 'pending';
        t.height = null;
        t.block_hash = null;
        for (const o of t.inputs) this.pendingInputs.set(o, t.txid);
        for (const v of t.outputs) {
          const c = this.coins.get(outpointOf(txid, v));
          if (c) {
            c.height = null;
            this.put(ops, `c:${txid}:${v}`, c);
          }
        }
        this.put(ops, `t:${txid}`, t);
        changes.push({ txid, status: 'reorged', height: null });
      }
      this.blocks.delete(h);
      this.del(ops, `b:${pad(h)}`);
    }
  }

  /** Undo records older than the reorg window are of no more use. */
  prune(belowHeight: number, ops: BatchOp[]): void {
    for (const h of this.blocks.keys()) {
      if (h >= belowHeight) continue;
      this.blocks.delete(h);
      this.del(ops, `b:${pad(h)}`);
    }
  }

  /** Keeps the raw form of a transaction the wallet broadcast (for a later fee bump). */
  keepRaw(txid: string, hex: string, ops: BatchOp[]): void {
    const t = this.txs.get(txid);
    if (!t || t.hex === hex) return;
    t.hex = hex;
    this.put(ops, `t:${txid}`, t);
  }

  /** The unconfirmed wallet transaction spending an outpoint, if any. */
  spenderOf(outpoint: string): string | undefined {
    return this.pendingInputs.get(outpoint);
  }

  setLabel(txid: string, label: string, ops: BatchOp[]): void {
    const t = this.txs.get(txid);
    if (!t) return;
    t.label = label;
    this.put(ops, `t:${txid}`, t);
  }
}
