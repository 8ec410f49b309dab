// The state channels room: two-party channels with numbered states that both parties sign, built as Lightning's
// commitments are (BOLT 2/3: revocable commitments, per-commitment keys, a CSV delay, penalties), where each state
// carries both balances and 32 bytes of application data. Keys live in the HSM room's keystore; the chain is
// followed through the bitcoin room. anyad is also its own watchtower: at every block and at every transaction
// spending a channel's funding output (mempool included), it looks at what spent it and punishes a revoked state.
//
// This class only wires the parts: opening.ts (opening, funding, cancel), updates.ts (states, revocations),
// closing.ts (cooperative and force closes), receive.ts (messages in), following.ts (the chain, sweeps and
// penalties through penalties.ts), tower.ts (the tower for others), state.ts (the state machine), context.ts
// (what they share). Operations an RPC call asks for name its caller (callerOf) in every HSM call; the room's own
// work names backgroundCaller('sc', <the event>).

import type { WalletApi } from '../../wallet/api.js';
import { rpcError } from '../../core/errors.js';
import { KeyedLock } from '../../core/keyed-lock.js';
import { backgroundCaller } from '../../core/methods.js';
import { HealthCell, type Health, type Service } from '../../core/service.js';
import type { Network } from '../../core/options.js';
import { bitcoinNetwork, chainHash } from '../../core/bitcoin-network.js';
import type { EventBus } from '../../core/events.js';
import type { RoomDb, Store } from '../../core/store.js';
import type { Logger } from 'pino';
import { CHAIN_BLOCK, type BitcoinApi } from '../bitcoin/api.js';
import type { HsmApi } from '../../hsm/api.js';
import type { P2pApi } from '../../p2p/api.js';
import { closeChannel, forceClose } from './closing.js';
import { DEFAULT_POLICY, get, list, newSeedCache, save, type ChannelContext, type ChannelPolicy } from './context.js';
import { lookAll, onConfirmed, onSpent } from './following.js';
import { payoutView, type PayoutView } from './payouts.js';
import { accept, cancel, openChannel, type OpenParams } from './opening.js';
import { ChannelPeering, type Held, type Offer } from './peering.js';
import { receive, type Received } from './receive.js';
import type { ChannelRecord, ChannelStateName } from './record.js';
import type { StateRule } from './rules.js';
import { holdsClear, openSecrets, sealSecrets } from './secrets.js';
import { Tower } from './tower.js';
import { update } from './updates.js';

/** What the room hands the service: its sublevel and the store, the bus, the rooms it uses, the network, the log, the admin's policy. */
export interface ChannelSettings {
  db: RoomDb;
  store: Store;
  bus: EventBus;
  hsm: HsmApi;
  chain: BitcoinApi;
  /** The wallet room's coin service, when it is on. */
  wallet?: WalletApi;
  /** The p2p room, when it is on: channels with a peer run over it (peering.ts). */
  p2p?: P2pApi;
  network: Network;
  log: Logger;
  policy?: ChannelPolicy;
}

export class ChannelService implements Service {
  readonly name = 'channels';
  readonly requires = ['hsm'];
  private readonly cell = new HealthCell('starting', 'opening');
  private readonly room: ChannelContext;
  private readonly tower: Tower;
  private readonly peering: ChannelPeering;
  private unlisten: (() => void) | undefined;
  private following = Promise.resolve();
  /** Chain notifications wait for the room to open (the bitcoin room delivers what it kept as soon as they are registered). */
  private opened!: () => void;
  private readonly ready = new Promise<void>((resolve) => (this.opened = resolve));
  /** A record may still keep revealed secrets in clear (an earlier anyad's): true from start until a sweep finds none. */
  private resealPending = true;

  constructor(settings: ChannelSettings) {
    const { db, store, bus, hsm, chain, network, log } = settings;
    this.room = {
      db,
      store,
      bus,
      hsm,
      chain,
      ...(settings.wallet ? { wallet: settings.wallet } : {}),
      notes: chain.notifications('channels', {
        spent: (e) => this.told(() => onSpent(this.room, e, backgroundCaller('sc', 'chain.tx'))),
        confirmed: (e) => this.told(() => onConfirmed(this.room, e, backgroundCaller('sc', 'chain.block'))),
        reorged: (e) => this.room.log.warn({ id: e.id, txid: e.txid, height: e.height, kind: e.kind }, 'channel transaction taken out of the chain by a reorg'),
      }),
      log,
      policy: settings.policy ?? DEFAULT_POLICY,
      net: bitcoinNetwork(network),
      chainHash: chainHash(network),
      locks: new KeyedLock(),
      rules: new Map(),
      seeds: newSeedCache(),
    };
    this.tower = new Tower({ room: this.room });
    // Registered now, before the p2p room opens: a message that came while this room was not listening would go to
    // the custom-message inbox instead. Each waits for this room to open.
    this.peering = new ChannelPeering(this.room, settings.p2p, this.ready);
    this.peering.listen();
  }

  async open(): Promise<void> {
    await this.tower.load();
    this.room.chain.listen(this.tower.listener((f) => this.queue(f)));
    // Every block: look at the channels (in order); a funding output's spend comes as a chain notification.
    this.unlisten = this.room.bus.on(CHAIN_BLOCK, () => {
      if (this.resealPending) this.queue(() => this.resealClear());
      this.queue(() => lookAll(this.room, backgroundCaller('sc', 'chain.block')));
    });
    this.queue(() => this.resealClear());
    // Once at start: every channel registered with the bitcoin room's notifications and looked at.
    this.queue(() => lookAll(this.room, backgroundCaller('sc', 'start'), true));
    this.opened();
    this.cell.set('ok', 'following channels through the bitcoin room');
  }

  async close(): Promise<void> {
    this.unlisten?.();
    await this.following;
    this.cell.set('stopped', 'closed');
  }

  health(): Health {
    return this.cell.get();
  }

  private queue(f: () => Promise<void>): void {
    this.following = this.following.then(f).catch((err: Error) => this.room.log.warn({ reason: err.message }, 'channel follow failed; next block retries'));
  }

  /** A chain notification: handled once the room is open, in order with the rest of the room's work. */
  private async told(f: () => Promise<void>): Promise<void> {
    await this.ready;
    const done = this.following.then(f);
    this.following = done.catch((err: Error) => this.room.log.warn({ reason: err.message }, 'channel follow failed; the bitcoin room tells it again'));
    await done;
  }

  /**
   * Seals the revealed secrets an earlier anyad kept in clear (issue 26): at start, then at every block until none
   * is left (a locked keystore stops a sweep; the next block tries again, and until then the clear record works as
   * it is). The room's key range is then compacted, so the clear copies leave the LevelDB files rather than linger
   * in older tables until LevelDB gets round to them.
   */
  private async resealClear(): Promise<void> {
    if (!this.resealPending) return;
    const room = this.room;
    let sealed = 0;
    try {
      for (const r of await list(room)) {
        if (!holdsClear(r.their_secrets)) continue;
        await room.locks.run(r.id, async () => {
          const rec = await get(room, r.id);
          if (!holdsClear(rec.their_secrets)) return;
          const plain = await openSecrets(room.hsm, rec.id, rec.their_secrets);
          await save(room, { ...rec, their_secrets: await sealSecrets(room.hsm, rec.id, plain, rec.their_secrets) }, rec.state);
          sealed++;
        });
      }
      this.resealPending = false;
    } catch (err) {
      room.log.warn({ reason: (err as Error).message }, 'cannot seal channel secrets kept in clear now (keystore locked?); the next block retries');
    } finally {
      if (sealed > 0) {
        await room.store.compact(room.db);
        room.log.info({ channels: sealed }, 'revealed channel secrets kept in clear sealed by the HSM room');
      }
    }
  }

  /** An application's rule, applied to every state proposed or received after the generic rules. */
  addRule(name: string, rule: StateRule): void {
    this.room.rules.set(name, rule);
  }

  list(): Promise<ChannelRecord[]> {
    return list(this.room);
  }

  get(id: string): Promise<ChannelRecord> {
    return get(this.room, id);
  }

  /** Where the channel's close, the counterparty's close and our claims pay, as addresses (sc.get). */
  payoutView(rec: ChannelRecord): PayoutView {
    return payoutView(this.room.net, rec);
  }

  // The operations an RPC call (or l2.submit) asks for; `caller` is callerOf(ctx), named in every HSM call they make.

  /** With p.peer, the open message is saved and queued to that peer in one batch (peering.ts). */
  openChannel(p: OpenParams, caller: string): Promise<{ id: string; message: string }> {
    return p.peer ? this.peering.open({ ...p, peer: p.peer }, caller) : openChannel(this.room, p, caller);
  }

  /** An open message carried by an app (hexMsg), or the offer a peer sent (id): the accept goes back to that peer. */
  accept(from: { message?: string; id?: string }, ownDelay: number | undefined, caller: string): Promise<{ id: string; message: string }> {
    if ((from.message === undefined) === (from.id === undefined))
      throw rpcError('InvalidParams', 'give either message (an open message carried by hand) or id (a channel a peer offered: sc.inbox)');
    return from.id !== undefined ? this.peering.acceptOffer(from.id, ownDelay, caller) : accept(this.room, from.message!, ownDelay, caller);
  }

  approve(id: string, maxPaySat: number, caller: string): Promise<Received> {
    return this.peering.approve(id, maxPaySat, caller);
  }

  inbox(): Promise<{ offers: Offer[]; approvals: Held[] }> {
    return this.peering.inbox();
  }

  receive(hexMsg: string, approval: { max_pay_sat?: number }, caller: string): Promise<Received> {
    return receive(this.room, hexMsg, approval, caller);
  }

  async update(
    id: string,
    p: { to_opener_sat: number; to_accepter_sat: number; app_hash?: string },
    caller: string,
  ): Promise<{ id: string; number: number; message: string }> {
    // A channel's peer is set when it is made and never changes: read without the lock.
    const rec = await get(this.room, id);
    return rec.peer ? this.peering.update(rec, p, caller) : update(this.room, id, p, caller);
  }

  async closeChannel(id: string, caller: string): Promise<{ id: string; message: string }> {
    const rec = await get(this.room, id);
    return rec.peer ? this.peering.close(rec, caller) : closeChannel(this.room, id, caller);
  }

  forceClose(id: string, caller: string): Promise<{ id: string; txid: string; number: number }> {
    return forceClose(this.room, id, caller);
  }

  /** A channel not funded (opening.ts), or an offer from a peer not accepted: declined (nothing was made for it). */
  async cancel(id: string): Promise<{ id: string; state: ChannelStateName | 'declined' }> {
    if (await this.peering.decline(id)) return { id, state: 'declined' };
    return cancel(this.room, id);
  }

  towerWatch(hint: string, blob: string): Promise<{ hint: string; watched: number }> {
    return this.tower.watch(hint, blob);
  }
}
