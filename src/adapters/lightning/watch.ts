// ln.channel and ln.peer events for every change on the node, not only the ones anyad made: each backend's channel
// and peer lists are polled and compared with the last look. (lightningd streams these only to plugins, and LND's
// channel and peer streams differ in shape; one diff over the shared list shapes serves both and is exact about
// states, at the cost of up to one interval of delay.) The first look after start is the baseline: anyad reports
// changes from then on, including those that happened while the node was unreachable, once it is back. The same
// look settles payments whose outcome anyad missed from the node's own record (operations.ts), and seals the
// preimages that wait for the keystore (preimages.ts).

import type { Logger } from 'pino';
import { CoalescedJob } from '../../core/coalesced-job.js';
import { HealthCell, type Health, type Service } from '../../core/service.js';
import type { LnChannel, LnPeer } from './backend.js';
import { reconcilePending, type LnParts } from './operations.js';
import { LN_CHANNEL, LN_PEER } from './topics.js';

const PENDING = /pending|opening|AWAITING_LOCKIN|OPENINGD|DUALOPEND/i;
// lightningd's channel states on the way out (common/channel_state.h): CHANNELD_SHUTTING_DOWN, CLOSINGD_SIGEXCHANGE,
// CLOSINGD_COMPLETE, AWAITING_UNILATERAL, FUNDING_SPEND_SEEN, ONCHAIN, CLOSED; LND's and LDK's 'closing'.
const CLOSING = /closing|CLOSINGD|ONCHAIN|SHUTDOWN|SHUTTING_DOWN|AWAITING_UNILATERAL|FUNDING_SPEND_SEEN|^CLOSED$/i;

/** The ln.channel status a channel's state stands for: pending, opened or closing (a closing state first: both name AWAITING). */
function phase(c: LnChannel): 'pending' | 'opened' | 'closing' {
  return CLOSING.test(c.state) ? 'closing' : PENDING.test(c.state) ? 'pending' : 'opened';
}

/** A service of its own (`<backend>-watch`), opened after its backend and closed before it. */
export class NodeWatch implements Service {
  readonly name: string;
  readonly optional = true;
  private readonly cell = new HealthCell('starting', 'not started');
  private channels: Map<string, LnChannel> | undefined;
  private peers: Map<string, LnPeer> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly looks = new CoalescedJob(() => this.look());

  constructor(
    private readonly parts: LnParts,
    private readonly intervalMs: number,
    private readonly log: Logger,
  ) {
    this.name = `${parts.backend.backend}-watch`;
  }

  async open(): Promise<void> {
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
    void this.tick();
    this.cell.set('ok', `looks at ${this.parts.backend.backend}'s channels and peers every ${this.intervalMs} ms`);
  }

  /** Stops looking, and lets a look under way finish (it may be writing a payment's outcome). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.looks.settled();
    this.cell.set('stopped', 'closed');
  }

  health(): Health {
    return this.cell.get();
  }

  /** One look; if a look is under way, one more after it (so a change just made is seen, and looks never overlap). */
  tick(): Promise<void> {
    return this.looks.run();
  }

  /** Lists channels and peers and publishes what changed since the last look. */
  private async look(): Promise<void> {
    // Preimages waiting to be sealed (keystore locked at completion, clear records of an earlier anyad): sealing a
    // clear record needs no node, so this runs even while the node is away.
    try {
      await this.parts.preimages.resealWaiting();
    } catch (err) {
      this.log.debug({ reason: (err as Error).message }, 'resealing preimages failed; next interval tries again');
    }
    if (!this.parts.backend.connected) return;
    try {
      const [channels, peers] = await Promise.all([this.parts.backend.listChannels(), this.parts.backend.listPeers()]);
      this.diffChannels(new Map(channels.map((c) => [c.channel_id, c])));
      this.diffPeers(new Map(peers.map((p) => [p.id, p])));
      await reconcilePending(this.parts);
    } catch (err) {
      this.log.debug({ reason: (err as Error).message }, 'channel/peer look failed; next interval tries again');
    }
  }

  private publishChannel(status: string, c: LnChannel): void {
    this.parts.bus.publish(LN_CHANNEL, {
      backend: this.parts.backend.backend,
      status,
      channel_id: c.channel_id,
      short_channel_id: c.short_channel_id,
      peer: c.peer,
      state: c.state,
      capacity_sat: c.capacity_sat,
    });
  }

  private diffChannels(now: Map<string, LnChannel>): void {
    const before = this.channels;
    this.channels = now;
    if (!before) return;
    for (const [id, c] of now) {
      const old = before.get(id);
      if (!old) {
        this.publishChannel(phase(c), c);
        if (phase(c) === 'opened' && c.active) this.publishChannel('active', c);
        continue;
      }
      if (phase(old) !== phase(c)) this.publishChannel(phase(c), c);
      if (old.active !== c.active) this.publishChannel(c.active ? 'active' : 'inactive', c);
    }
    for (const [id, c] of before) if (!now.has(id)) this.publishChannel('closed', c);
  }

  private diffPeers(now: Map<string, LnPeer>): void {
    const before = this.peers;
    this.peers = now;
    if (!before) return;
    const up = (p: LnPeer | undefined): boolean => p?.connected === true;
    for (const id of new Set([...before.keys(), ...now.keys()])) {
      const was = up(before.get(id));
      const is = up(now.get(id));
      if (was !== is)
        this.parts.bus.publish(LN_PEER, {
          backend: this.parts.backend.backend,
          status: is ? 'connected' : 'disconnected',
          id,
          address: now.get(id)?.address ?? before.get(id)?.address ?? null,
        });
    }
  }
}
