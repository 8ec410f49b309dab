// The DLC room's messages out to a contract's peer (issue 28 item 3): a step of the protocol (an offer made, an
// accept or a sign answered) and the message it sends are written in ONE synced batch, so a kill leaves both or
// neither. A message that fits one delivered payload goes through the p2p room's transactional outbox (deliver with
// commitWith: the outbox entry in the step's own batch). A larger one is split (segments.ts); its pieces cannot all
// be queued in one deliver, so the step's batch writes it to the room's own send queue (w:<key> → the message,
// wn:<key> → the next piece) and the sender below hands the pieces to deliver() one at a time, each in a batch
// with the queue's progress: every piece is queued once, across kills, and the pieces of one message are queued
// together, one message after another (a peer reassembles one at a time). A whole message never goes between two
// pieces: a peer drops the message it was reassembling when another comes (rust-dlc does, and so does inbox.ts), so
// while a segmented message to that peer is in the send queue a whole one waits in the queue behind it.

import { rpcError } from '../../core/errors.js';
import type { BatchOp } from '../../core/store.js';
import type { P2pApi } from '../../p2p/api.js';
import { save } from './contracts.js';
import { pieces } from './segments.js';
import type { ContractRecord, ContractState, DlcContext, Via } from './context.js';

/** The p2p room's api, or the refusal that names the key that turns it on. */
export function needP2p(ctx: DlcContext): P2pApi {
  if (!ctx.p2p)
    throw rpcError('Unsupported', 'the peer network is off (p2p.enable, with a node key in the HSM room): carry the messages as hex instead', {
      service: 'p2p',
    });
  return ctx.p2p;
}

/**
 * Writes a step's record (save) and, with `via`, queues its message to the peer in the same batch; answers the
 * record as saved. Without `via` it is save() as before (the messages carried by the app).
 */
export async function commitStep(
  ctx: DlcContext,
  rec: ContractRecord,
  previous: ContractState | null,
  extra: BatchOp[],
  via: Via | undefined,
  message: Uint8Array,
): Promise<ContractRecord> {
  if (!via) return save(ctx, rec, previous, extra);
  const p2p = needP2p(ctx);
  const all = [...extra, ...(via.extra ?? [])];
  const ps = pieces(message);
  rec.peer = via.peer;
  // Under the peer's lock: no message to it is queued between the look at the send queue and this one's write (the
  // sender only takes what is in the queue already).
  return ctx.locks.run(`out:${via.peer}`, async () => {
    if (ps.length === 1 && !(await queuedTo(ctx, via.peer))) {
      let saved: ContractRecord | undefined;
      await p2p.deliver(via.peer, ps[0]!.type, ps[0]!.payload, async (ops) => {
        saved = await save(ctx, rec, previous, [...all, ...ops]);
      });
      return saved!;
    }
    // Keyed by peer, then a number one above the peer's last queued message (under this lock): the sender takes each
    // peer's in that order, whatever the clock does (a Pi without a real-time clock may boot into the past).
    const key = `${via.peer}:${String((await lastQueued(ctx, via.peer)) + 1).padStart(12, '0')}`;
    const queued: BatchOp[] = [
      { type: 'put', sublevel: ctx.db, key: `w:${key}`, value: { peer: via.peer, message: Buffer.from(message).toString('hex'), id: rec.id } },
      { type: 'put', sublevel: ctx.db, key: `wn:${key}`, value: 0 },
    ];
    const saved = await save(ctx, rec, previous, [...all, ...queued]);
    ctx.wire.kick();
    return saved;
  });
}

/** The number of the peer's last message in the send queue (its pieces not all handed to the p2p outbox yet), or 0. */
async function lastQueued(ctx: DlcContext, peer: string): Promise<number> {
  for await (const k of ctx.db.keys({ gte: `w:${peer}:`, lt: `w:${peer};`, reverse: true, limit: 1 })) return Number(k.slice(k.lastIndexOf(':') + 1));
  return 0;
}

const queuedTo = async (ctx: DlcContext, peer: string): Promise<boolean> => (await lastQueued(ctx, peer)) > 0;

/** How long the sender waits before it tries again after a refusal of the outbox (Busy: the peer's outbox full). */
const RETRY_MS = 5000;

/**
 * Hands the queued segmented messages' pieces to the p2p outbox, each peer's oldest message first, each piece in a
 * batch with the queue's progress (and the last with the message's removal). A peer whose outbox refuses (Busy) is
 * left for this round; the others go on. Answers false when something must be tried again later.
 */
export async function sendQueued(ctx: DlcContext): Promise<boolean> {
  if (!ctx.p2p) return true;
  const p2p = ctx.p2p;
  const refused = new Set<string>();
  for (;;) {
    if (ctx.wire.stopping()) return true;
    let next: [string, { peer: string; message: string; id: string }] | undefined;
    for await (const [k, v] of ctx.db.iterator({ gte: 'w:', lt: 'w;' })) {
      const w = v as { peer: string; message: string; id: string };
      if (refused.has(w.peer)) continue;
      next = [k.slice(2), w];
      break;
    }
    if (!next) return refused.size === 0;
    const [key, w] = next;
    const ps = pieces(Buffer.from(w.message, 'hex'));
    let at = ((await ctx.db.get(`wn:${key}`)) as number | undefined) ?? 0;
    for (; at < ps.length; at++) {
      const last = at === ps.length - 1;
      const progress: BatchOp[] = last
        ? [
            { type: 'del', sublevel: ctx.db, key: `w:${key}` },
            { type: 'del', sublevel: ctx.db, key: `wn:${key}` },
          ]
        : [{ type: 'put', sublevel: ctx.db, key: `wn:${key}`, value: at + 1 }];
      try {
        await p2p.deliver(w.peer, ps[at]!.type, ps[at]!.payload, (ops) => ctx.store.batch([...ops, ...progress], { sync: true }));
      } catch (err) {
        ctx.log.warn({ id: w.id, peer: w.peer, piece: at + 1, of: ps.length, reason: (err as Error).message }, 'a DLC message piece not queued yet; retrying');
        refused.add(w.peer);
        break;
      }
    }
    if (refused.has(w.peer)) continue;
    ctx.log.info(
      { id: w.id, peer: w.peer, pieces: ps.length, bytes: w.message.length / 2 },
      ps.length > 1 ? 'a segmented DLC message queued to its peer' : 'a DLC message queued to its peer after a segmented one',
    );
  }
}

export const SEND_RETRY_MS = RETRY_MS;
