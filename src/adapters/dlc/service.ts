// A DLC participant: offers, accepts, signs and finalizes contracts (enumerated outcomes on one oracle or a
// threshold of several; numeric outcomes on one oracle) as the dlcspecs define them (messages.ts,
// transactions.ts), with every key in the HSM room's keystore (funding, payout, change) and every funding input
// signed through its PSBT path, so the collateral counts against the signing policy like any spend. Contracts are
// kept in the room's sublevel; each transition is written (synced) before its dlc.contract event. The chain is
// followed through the bitcoin room: funding seen and confirmed, a CET, the refund or a mutual close confirmed
// (whoever sent it), and the refund sent by itself past its locktime (dlc.autorefund).
//
// This class only wires the room's modules to its context (context.ts) and to the node's lifecycle: negotiation.ts
// (offer, accept, sign, finalize), funding.ts (coins, the funding transaction), following.ts (the chain, the
// oracles), closing.ts (CET, refund, mutual close, cancel), contracts.ts (the records), terms.ts (dlc.decodeoffer).
// Each operation takes its caller (callerOf of the RPC, or l2.submit's) on to every HSM signature it asks for.

import { LRUCache } from 'lru-cache';
import type { Static } from '@sinclair/typebox';
import { HealthCell, type Health, type Service } from '../../core/service.js';
import { KeyedLock } from '../../core/keyed-lock.js';
import { bitcoinNetwork } from '../../core/bitcoin-network.js';
import { CHAIN_BLOCK } from '../bitcoin/api.js';
import type { dlcDecodeoffer } from './declarations.js';
import { DlcWorkers } from './worker.js';
import { exchanged, get, list, resealClear } from './contracts.js';
import { accept, finalize, offer, signAccept } from './negotiation.js';
import { decodeOffer } from './terms.js';
import { fetchAnnouncement, follow } from './following.js';
import { onConfirmed, onReorged, onSpent, watchAll } from './chain-notes.js';
import { acceptClose, cancel, proposeClose, refund, settle } from './closing.js';
import { processInbox, receivedClose, receivedOffer, take } from './inbox.js';
import { needP2p, SEND_RETRY_MS, sendQueued } from './peer-wire.js';
import { DLC_WIRE_TYPES } from './segments.js';
import { DEFAULT_BOUNDS, type ContractParts, type ContractRecord, type DlcContext, type ExpectedTerms, type OfferParams } from './context.js';

export type { ContractRecord, ContractState, DlcBounds, ExpectedTerms, OfferParams } from './context.js';

/**
 * What the room gives its service (room.ts): the store, the rooms it uses, its config keys (dlc.autorefund,
 * dlc.autoclose, dlc.oracle, the bounds); the rest of the context (locks, workers, caches) is made here.
 */
export type DlcServiceSettings = Pick<DlcContext, 'db' | 'store' | 'bus' | 'hsm' | 'chain' | 'network' | 'log' | 'autorefund'> &
  Partial<Pick<DlcContext, 'autoclose' | 'oracles' | 'bounds' | 'wallet' | 'p2p'>>;

export class DlcService implements Service {
  readonly name = 'dlc';
  readonly requires = ['hsm'];
  private readonly cell = new HealthCell('starting', 'opening');
  private readonly ctx: DlcContext;
  private unlisten: (() => void) | undefined;
  private following = Promise.resolve();
  /** Chain notifications wait for the room to open (the bitcoin room delivers what it kept as soon as they are registered). */
  private opened!: () => void;
  private readonly ready = new Promise<void>((resolve) => (this.opened = resolve));
  /** Resolved by close(): the wire work waiting for the room to open gives up then. */
  private stopped!: () => void;
  private readonly closing = new Promise<void>((resolve) => (this.stopped = resolve));
  /** The wire work (peer-wire.ts, inbox.ts): one run at a time, run again when kicked during one. */
  private wire: { running?: Promise<void>; again: boolean; timer?: NodeJS.Timeout; closed: boolean } = {
    again: false,
    closed: false,
  };

  constructor(s: DlcServiceSettings) {
    const bounds = s.bounds ?? DEFAULT_BOUNDS;
    this.ctx = {
      db: s.db,
      store: s.store,
      bus: s.bus,
      hsm: s.hsm,
      chain: s.chain,
      ...(s.wallet ? { wallet: s.wallet } : {}),
      notes: s.chain.notifications('dlc', {
        spent: (e) => this.told(() => onSpent(this.ctx, e)),
        confirmed: (e) => this.told(() => onConfirmed(this.ctx, e)),
        reorged: (e) => onReorged(this.ctx, e),
      }),
      network: s.network,
      net: bitcoinNetwork(s.network),
      log: s.log,
      oracles: s.oracles ?? [],
      autorefund: s.autorefund,
      autoclose: s.autoclose ?? false,
      bounds,
      locks: new KeyedLock(),
      workers: new DlcWorkers(bounds.workers, bounds.workerTimeout, s.log),
      partsCache: new LRUCache<string, ContractParts>({ max: 256 }),
      sealing: { allSealed: false },
      ...(s.p2p ? { p2p: s.p2p } : {}),
      wire: { kick: () => this.kickWire(), stopping: () => this.wire.closed },
    };
    // Taken from the first message the p2p room delivers (it may come before open): stored, processed once open.
    s.p2p?.onDelivered(DLC_WIRE_TYPES, (m) => take(this.ctx, m));
  }

  /**
   * Runs the wire work: the segmented messages queued to peers, then the messages taken from peers, until nothing
   * is left; a run that must wait (a locked keystore, a full outbox) is tried again after SEND_RETRY_MS.
   */
  private kickWire(): void {
    const w = this.wire;
    if (w.closed) return;
    if (w.running) {
      w.again = true;
      return;
    }
    w.running = (async () => {
      await Promise.race([this.ready, this.closing]);
      let ok = true;
      do {
        w.again = false;
        const sent = await sendQueued(this.ctx).catch((err: Error) => (this.ctx.log.warn({ reason: err.message }, 'DLC messages to peers not queued'), false));
        const taken = await processInbox(this.ctx).catch(
          (err: Error) => (this.ctx.log.warn({ reason: err.message }, 'DLC messages from peers not taken'), false),
        );
        ok = sent && taken;
      } while (w.again && !w.closed);
      return ok;
    })().then((ok) => {
      w.running = undefined;
      // Kicked after the last pass looked: once more.
      if (w.again && !w.closed) return this.kickWire();
      if (!ok && !w.closed && !w.timer) {
        w.timer = setTimeout(() => {
          w.timer = undefined;
          this.kickWire();
        }, SEND_RETRY_MS);
        w.timer.unref();
      }
    });
  }

  async open(): Promise<void> {
    const ctx = this.ctx;
    // Records of an earlier anyad in clear: sealed now if the keystore is open, else at a block after it is.
    this.following = resealClear(ctx);
    // Registrations of contracts signed before the room's chain notifications existed (and any left unmade).
    await watchAll(ctx).catch((err: Error) => ctx.log.error({ reason: err.message }, 'DLC contracts not registered for chain notifications'));
    this.opened();
    // Every block: look at the open contracts' transactions (one look at a time, in block order).
    this.unlisten = ctx.bus.on(CHAIN_BLOCK, (b) => {
      this.following = this.following
        .then(() => follow(ctx, b.hash))
        .catch((err: Error) => ctx.log.warn({ reason: err.message }, 'DLC follow failed; next block retries'));
    });
    this.cell.set('ok', 'following contracts through the bitcoin room');
    // What an earlier run left: messages taken and not yet processed, segmented messages not all queued.
    this.kickWire();
  }

  /** A chain notification: handled once the room is open, in order with the rest of its following. */
  private async told(f: () => Promise<void>): Promise<void> {
    await this.ready;
    const done = this.following.then(f);
    this.following = done.catch((err: Error) => this.ctx.log.warn({ reason: err.message }, 'DLC chain notification not handled; told again at the next start'));
    await done;
  }

  async close(): Promise<void> {
    this.unlisten?.();
    this.wire.closed = true;
    this.stopped();
    // The delivery handler stays: a message delivered while anyad stops is still stored for the DLC room (its batch
    // lands or the peer sends it again), never left to the custom-message inbox.
    if (this.wire.timer) clearTimeout(this.wire.timer);
    await this.wire.running;
    await this.following;
    await this.ctx.workers.close();
    this.cell.set('stopped', 'closed');
  }

  health(): Health {
    return this.cell.get();
  }

  list(): Promise<ContractRecord[]> {
    return list(this.ctx);
  }

  get(id: string): Promise<ContractRecord> {
    return get(this.ctx, id);
  }

  exchanged(id: string, withSignatures: boolean): ReturnType<typeof exchanged> {
    return exchanged(this.ctx, id, withSignatures);
  }

  decodeOffer(offerHex: string): Promise<Static<typeof dlcDecodeoffer.result>> {
    return decodeOffer(this.ctx, offerHex);
  }

  fetchAnnouncement(eventId: string): ReturnType<typeof fetchAnnouncement> {
    return fetchAnnouncement(this.ctx, eventId);
  }

  offer(p: OfferParams, caller: string): ReturnType<typeof offer> {
    return offer(this.ctx, p, caller);
  }

  accept(offerHex: string, utxos: OfferParams['utxos'] | undefined, caller: string, expect?: ExpectedTerms): ReturnType<typeof accept> {
    return accept(this.ctx, offerHex, utxos, caller, expect);
  }

  /** dlc.accept id=: an offer a peer sent (dlc.offered), its accept_dlc sent back over the peer network. */
  async acceptReceived(id: string, utxos: OfferParams['utxos'] | undefined, caller: string, expect?: ExpectedTerms): ReturnType<typeof accept> {
    needP2p(this.ctx); // refused by name before the lookup: with the peer network off no offer comes
    const r = await receivedOffer(this.ctx, id);
    return accept(this.ctx, r.offer, utxos, caller, expect, { peer: r.peer, extra: [{ type: 'del', sublevel: this.ctx.db, key: `r:${id}` }] });
  }

  signAccept(acceptHex: string, caller: string): ReturnType<typeof signAccept> {
    return signAccept(this.ctx, acceptHex, caller);
  }

  finalize(signHex: string, caller: string): ReturnType<typeof finalize> {
    return finalize(this.ctx, signHex, caller);
  }

  settle(id: string, attestationsHex: string[], caller: string): ReturnType<typeof settle> {
    return settle(this.ctx, id, attestationsHex, caller);
  }

  refund(id: string, caller: string): ReturnType<typeof refund> {
    return refund(this.ctx, id, caller);
  }

  proposeClose(id: string, payoutSat: number, caller: string): ReturnType<typeof proposeClose> {
    return proposeClose(this.ctx, id, payoutSat, caller);
  }

  acceptClose(closeHex: string, payoutSat: number, caller: string): ReturnType<typeof acceptClose> {
    return acceptClose(this.ctx, closeHex, payoutSat, caller);
  }

  /** dlc.acceptclose id=: the latest close a contract's peer proposed over the peer network (dlc.closeproposed). */
  async acceptReceivedClose(id: string, payoutSat: number, caller: string): ReturnType<typeof acceptClose> {
    needP2p(this.ctx);
    const r = await receivedClose(this.ctx, id);
    return acceptClose(this.ctx, r.close, payoutSat, caller, { peer: r.peer, extra: [{ type: 'del', sublevel: this.ctx.db, key: `k:${id}` }] });
  }

  cancel(id: string, caller: string): ReturnType<typeof cancel> {
    return cancel(this.ctx, id, caller);
  }
}
