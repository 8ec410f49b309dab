// What apps asked to watch: addresses and output scripts (matched on outputs) and outpoints (matched on the
// inputs that spend them). Persisted in the room's sublevel; matched in memory through two indexes.

import { randomBytes } from 'node:crypto';
import { outputScriptHex } from '../../core/bitcoin-network.js';
import type { Network } from '../../core/options.js';
import { KeyedLock } from '../../core/keyed-lock.js';
import { rpcError } from '../../core/errors.js';
import type { RoomDb, Store } from '../../core/store.js';
import type { VerboseTx } from './backend.js';

export interface Watch {
  id: string;
  kind: 'address' | 'script' | 'outpoint';
  /** As given: the address, the script hex, or txid:vout. */
  value: string;
  label: string;
  created: string;
  /** The credentials (rpcauth users, "cookie", "unix") that asked for it; only they or an admin remove it. */
  owners?: string[];
}

export const MAX_WATCHES = 250_000;

const ids = (entry: string | string[] | undefined): string[] => (entry === undefined ? [] : typeof entry === 'string' ? [entry] : entry);

export class WatchList {
  private readonly byId = new Map<string, Watch>();
  /** Watch ids by output script (hex) and by outpoint: one id as a plain string (nearly always), several as an array. */
  private readonly byScript = new Map<string, string | string[]>();
  private readonly byOutpoint = new Map<string, string | string[]>();
  /** One critical section per watched thing (add and remove read, check and write the same record). */
  private readonly locks = new KeyedLock();

  constructor(
    private readonly db: RoomDb,
    private readonly store: Store,
    private readonly network: Network,
  ) {}

  async load(): Promise<void> {
    for await (const [, v] of this.db.iterator({ gte: 'w:', lt: 'w;' })) this.index(v as Watch);
  }

  size(): number {
    return this.byId.size;
  }

  list(): Watch[] {
    return [...this.byId.values()].sort((a, b) => a.created.localeCompare(b.created));
  }

  /**
   * Adds a watch, or one more owner to the same watch. Find, check and write are one critical section per watched
   * thing: concurrent callers never make two watches of one script, nor lose an owner.
   */
  async add(input: { address?: string; script?: string; outpoint?: string; label?: string }, owner: string): Promise<Watch> {
    const given = (['address', 'script', 'outpoint'] as const).filter((k) => input[k] !== undefined);
    if (given.length !== 1) throw rpcError('InvalidParams', 'give exactly one of address, script or outpoint');
    const kind = given[0]!;
    const value = input[kind]!;
    const key = this.keyOf(kind, value);
    return this.locks.run(`${kind}:${key}`, () => this.addLocked(kind, value, key, input.label, owner));
  }

  private async addLocked(kind: Watch['kind'], value: string, key: string, label: string | undefined, owner: string): Promise<Watch> {
    // Found through the index, not by walking the list: a wallet backend watches 100,000 addresses.
    const existing = ids((kind === 'outpoint' ? this.byOutpoint : this.byScript).get(key))
      .map((id) => this.byId.get(id)!)
      .find((w) => w.kind === kind);
    if (existing) {
      // The same thing watched by another app: one watch, one more owner.
      if (existing.owners?.includes(owner)) return existing;
      const shared: Watch = { ...existing, owners: [...(existing.owners ?? []), owner] };
      await this.store.batch([{ type: 'put', sublevel: this.db, key: `w:${shared.id}`, value: shared }]);
      this.byId.set(shared.id, shared);
      return shared;
    }
    if (this.byId.size >= MAX_WATCHES) throw rpcError('Busy', `the watch list is full (${MAX_WATCHES} entries)`);
    const w: Watch = { id: randomBytes(8).toString('hex'), kind, value, label: label ?? '', created: new Date().toISOString(), owners: [owner] };
    await this.store.batch([{ type: 'put', sublevel: this.db, key: `w:${w.id}`, value: w }]);
    this.index(w);
    return w;
  }

  /**
   * Removes `who` from the watch's owners (an admin removes it outright); the watch goes when no owner is left.
   * Refuses (Forbidden) an app that does not own it.
   */
  async remove(id: string, who: string, admin: boolean): Promise<boolean> {
    const found = this.byId.get(id);
    if (!found) return false;
    return this.locks.run(`${found.kind}:${this.keyOf(found.kind, found.value)}`, () => this.removeLocked(id, who, admin));
  }

  private async removeLocked(id: string, who: string, admin: boolean): Promise<boolean> {
    const w = this.byId.get(id);
    if (!w) return false;
    if (!admin && !(w.owners ?? []).includes(who))
      throw rpcError('Forbidden', `watch ${id} belongs to another app; only its owner or an admin removes it`, { required: 'owner or admin' });
    const left = admin ? [] : (w.owners ?? []).filter((o) => o !== who);
    if (left.length > 0) {
      const kept: Watch = { ...w, owners: left };
      await this.store.batch([{ type: 'put', sublevel: this.db, key: `w:${id}`, value: kept }]);
      this.byId.set(id, kept);
      return true;
    }
    await this.store.batch([{ type: 'del', sublevel: this.db, key: `w:${id}` }]);
    this.byId.delete(id);
    const map = w.kind === 'outpoint' ? this.byOutpoint : this.byScript;
    const k = this.keyOf(w.kind, w.value);
    const others = ids(map.get(k)).filter((x) => x !== id);
    if (others.length === 0) map.delete(k);
    else map.set(k, others.length === 1 ? others[0]! : others);
    return true;
  }

  /** The watches a transaction touches (by output script or spent outpoint), or undefined. */
  match(tx: VerboseTx): { watches: string[]; spends: string[] } | undefined {
    const found = new Set<string>();
    const spends: string[] = [];
    for (const out of tx.vout) {
      const hit = this.byScript.get(out.scriptPubKey.hex);
      if (hit !== undefined) for (const id of typeof hit === 'string' ? [hit] : hit) found.add(id);
    }
    if (this.byOutpoint.size > 0) {
      for (const input of tx.vin) {
        if (input.txid === undefined) continue;
        const op = `${input.txid}:${input.vout}`;
        const hit = this.byOutpoint.get(op);
        if (hit === undefined) continue;
        spends.push(op);
        for (const id of typeof hit === 'string' ? [hit] : hit) found.add(id);
      }
    }
    return found.size > 0 ? { watches: [...found].sort(), spends } : undefined;
  }

  /** The index key: an output script in hex for addresses and scripts, txid:vout for outpoints. Throws -32602. */
  private keyOf(kind: Watch['kind'], value: string): string {
    switch (kind) {
      case 'address':
        try {
          return outputScriptHex(value, this.network);
        } catch {
          throw rpcError('InvalidParams', `'${value.slice(0, 100)}' is not a valid ${this.network} address`);
        }
      case 'script':
        if (!/^([0-9a-f]{2}){1,10000}$/i.test(value)) throw rpcError('InvalidParams', 'script must be hex');
        return value.toLowerCase();
      case 'outpoint': {
        const m = /^([0-9a-f]{64}):(\d{1,10})$/i.exec(value);
        if (!m || Number(m[2]) > 0xffffffff) throw rpcError('InvalidParams', 'outpoint must be <txid>:<vout>');
        return `${m[1]!.toLowerCase()}:${Number(m[2])}`;
      }
    }
  }

  private index(w: Watch): void {
    this.byId.set(w.id, w);
    const map = w.kind === 'outpoint' ? this.byOutpoint : this.byScript;
    const k = this.keyOf(w.kind, w.value);
    const had = map.get(k);
    map.set(k, had === undefined ? w.id : [...ids(had), w.id]);
  }
}
