// DLC messages taken from peers (issue 28 item 3). The p2p room hands each delivered message to `take` once (its
// writes and the mark "taken" one batch): take only stores it — a whole message in the room's inbox
// (in:<peer>:<seq> → {type, hex}), a segment in the reassembly of that peer's message (sg:<peer> → progress,
// sc:<peer>:<n> → data; the last one moves the whole message to the inbox) — and kicks the processor. No signature
// is made inside the p2p room's receive lock. The processor (`processInbox`) takes the inbox oldest first and does
// each message's step: an offer kept (r:<id>) and told (dlc.offered), never signed; an accept_dlc signed (dlc.sign's
// path) and answered with sign_dlc; a sign_dlc finalized (dlc.finalize's path: the funding broadcast). The step
// deletes the inbox entry in its own batch (with the record and the answer), so a kill of either side re-runs only
// a step that did not land, at the next start. A message from another peer than the contract's, for an unknown
// contract, a replay, or one the checks refuse is dropped with a warning and a dlc.refused event.
//
// Segments follow rust-dlc's message handler (dlc-messages message_handler.rs, segment_reader.rs): a peer sends a
// segmented message's pieces back to back, so anything but a segment_chunk while one is being reassembled ends
// that reassembly — a whole message drops it and is taken as usual, a segment_start drops it and starts anew; a
// segment_chunk with none started is refused. Stricter than rust-dlc: a refused piece drops the reassembly too, and
// a message over MAX_REASSEMBLED is refused. (peer-wire.ts keeps our own whole messages out from between pieces.)

import { ErrorCode, RpcError, rpcError } from '../../core/errors.js';
import { backgroundCaller } from '../../core/methods.js';
import type { BatchOp } from '../../core/store.js';
import type { Delivered, DeliveryWrite } from '../../p2p/api.js';
import { decodeAccept, decodeClose, decodeSign, MSG } from './messages.js';
import { finalize, signAccept } from './negotiation.js';
import { decodeOffer } from './terms.js';
import { list } from './contracts.js';
import { readChunk, readStart, SEGMENT_CHUNK, SEGMENT_START, SegmentError, type Partial } from './segments.js';
import { DLC_CLOSEPROPOSED, DLC_OFFERED, DLC_REFUSED } from './topics.js';
import { asRpc, type DlcContext } from './context.js';

/** An offer taken from a peer, kept until dlc.accept id= takes it (or forever, as offers are small and few). */
export interface ReceivedOffer {
  id: string;
  peer: string;
  offer: string;
  received: string;
  refusal: string | null;
}

const seqKey = (seq: number): string => String(seq).padStart(16, '0');
/**
 * Offers from one peer kept and not accepted, at most, and from all peers together: a peer cannot fill the room's
 * store with offers, nor can a stranger under ever new node keys (they cost nothing to make).
 */
export const MAX_OFFERS_PER_PEER = 64;
export const MAX_OFFERS = 512;

/** A message refused: logged, told (dlc.refused), never signed. */
export function refused(ctx: DlcContext, peer: string, type: number, id: string | null, reason: string): void {
  ctx.log.warn({ peer, type, id, reason }, 'a DLC message from a peer refused');
  ctx.bus.publish(DLC_REFUSED, { peer, type, id, reason });
}

/** The p2p room's delivery handler: stores the message (or the segment), nothing more. */
export async function take(ctx: DlcContext, m: Delivered): Promise<DeliveryWrite> {
  const after = (): void => ctx.wire.kick();
  // One peer's messages come to this handler one at a time and in order (the p2p room's receive lock): the
  // reassembly's read-check-write is not raced.
  const sg = `sg:${m.pubkey}`;
  const chunkKey = (n: number): string => `sc:${m.pubkey}:${String(n).padStart(4, '0')}`;
  const was = (await ctx.db.get(sg)) as (Partial & { pieces: number }) | undefined;
  const drop = async (): Promise<BatchOp[]> => {
    const ops: BatchOp[] = [{ type: 'del', sublevel: ctx.db, key: sg }];
    for await (const k of ctx.db.keys({ gte: `sc:${m.pubkey}:`, lt: `sc:${m.pubkey};` })) ops.push({ type: 'del', sublevel: ctx.db, key: k });
    return ops;
  };
  // Anything but a chunk while a message is being reassembled: that message is dropped (rust-dlc resets its reader).
  const interrupted = async (what: string): Promise<BatchOp[]> => {
    if (!was) return [];
    refused(ctx, m.pubkey, SEGMENT_START, null, `${what} while ${was.remaining} segments of an earlier message were still to come: that message is dropped`);
    return drop();
  };
  if (m.type !== SEGMENT_START && m.type !== SEGMENT_CHUNK) {
    const whole = Buffer.alloc(2 + m.payload.length);
    whole.writeUInt16BE(m.type, 0);
    m.payload.copy(whole, 2);
    const ops = await interrupted(`a whole message (type ${m.type})`);
    ctx.log.info({ peer: m.pubkey, type: m.type, seq: m.seq, bytes: whole.length }, 'a DLC message taken from a peer');
    ops.push({ type: 'put', sublevel: ctx.db, key: `in:${m.pubkey}:${seqKey(m.seq)}`, value: { type: m.type, hex: whole.toString('hex') } });
    return { ops, after };
  }
  try {
    if (m.type === SEGMENT_START) {
      const ops = await interrupted('a segment_start');
      const s = readStart(m.payload);
      ops.push({ type: 'put', sublevel: ctx.db, key: sg, value: { remaining: s.remaining, bytes: s.data.length, pieces: 1 } });
      ops.push({ type: 'put', sublevel: ctx.db, key: chunkKey(0), value: s.data.toString('hex') });
      return { ops };
    }
    if (!was) throw new SegmentError('a segment_chunk with no segment_start before it');
    const d = readChunk(was, m.payload);
    if (was.remaining > 1) {
      return {
        ops: [
          { type: 'put', sublevel: ctx.db, key: sg, value: { remaining: was.remaining - 1, bytes: was.bytes + d.length, pieces: was.pieces + 1 } },
          { type: 'put', sublevel: ctx.db, key: chunkKey(was.pieces), value: d.toString('hex') },
        ],
      };
    }
    const parts: Buffer[] = [];
    for await (const v of ctx.db.values({ gte: `sc:${m.pubkey}:`, lt: `sc:${m.pubkey};` })) parts.push(Buffer.from(v as string, 'hex'));
    const whole = Buffer.concat([...parts, d]);
    const type = whole.readUInt16BE(0);
    const ops = await drop();
    if (type === SEGMENT_START || type === SEGMENT_CHUNK) throw new SegmentError('a segmented message that is itself a segment');
    ops.push({ type: 'put', sublevel: ctx.db, key: `in:${m.pubkey}:${seqKey(m.seq)}`, value: { type, hex: whole.toString('hex') } });
    ctx.log.info({ peer: m.pubkey, type, bytes: whole.length, pieces: was.pieces + 1 }, 'a segmented DLC message reassembled');
    return { ops, after };
  } catch (err) {
    if (!(err instanceof SegmentError)) throw err;
    refused(ctx, m.pubkey, m.type, null, err.message);
    return { ops: was ? await drop() : [] };
  }
}

/** Refusals that may pass (a locked keystore, a node away, a worker busy): the message stays for a later try. */
function transient(err: unknown): boolean {
  return err instanceof RpcError && (err.code === ErrorCode.Locked || err.code === ErrorCode.BackendUnavailable || err.code === ErrorCode.Busy);
}

/** Takes every message in the inbox, oldest first per peer. Answers false when one must be tried again later. */
export async function processInbox(ctx: DlcContext): Promise<boolean> {
  const entries: Array<[string, { type: number; hex: string }]> = [];
  for await (const [k, v] of ctx.db.iterator({ gte: 'in:', lt: 'in;' })) entries.push([k, v as { type: number; hex: string }]);
  for (const [key, msg] of entries) {
    if (ctx.wire.stopping()) return true; // the rest at the next start
    const peer = key.split(':')[1]!;
    const done: BatchOp = { type: 'del', sublevel: ctx.db, key };
    try {
      await step(ctx, peer, msg, done);
    } catch (err) {
      const e = asRpc(err) as Error;
      if (transient(e)) {
        ctx.log.warn({ peer, type: msg.type, reason: e.message }, 'a DLC message from a peer waits: tried again later');
        return false;
      }
      await ctx.store.batch([done], { sync: true });
      refused(ctx, peer, msg.type, idOf(msg), e.message);
    }
  }
  return true;
}

/** The id a message names, for a refusal's event (null when it cannot be read). */
function idOf(msg: { type: number; hex: string }): string | null {
  const b = Buffer.from(msg.hex, 'hex');
  // offer_dlc: type, protocol_version, contract_flags, chain_hash, then the id; accept_dlc, sign_dlc and close_dlc:
  // type, protocol_version (close_dlc: none), then the id.
  const at = msg.type === MSG.offer ? 39 : msg.type === MSG.close ? 2 : 6;
  return b.length >= at + 32 ? b.subarray(at, at + 32).toString('hex') : null;
}

async function step(ctx: DlcContext, peer: string, msg: { type: number; hex: string }, done: BatchOp): Promise<void> {
  const caller = backgroundCaller('dlc', `${msg.type === MSG.accept ? 'accept_dlc' : msg.type === MSG.sign ? 'sign_dlc' : 'message'} from ${peer}`);
  switch (msg.type) {
    case MSG.offer:
      return takeOffer(ctx, peer, msg.hex, done);
    case MSG.accept: {
      const id = decodeAccept(Buffer.from(msg.hex, 'hex')).temporary_contract_id;
      const rec = (await ctx.db.get(`c:${id}`)) as { peer?: string; role: string } | undefined;
      if (!rec) throw rpcError('NotFound', `accept_dlc for an unknown contract ${id}`);
      if (rec.role !== 'offerer' || rec.peer !== peer)
        throw rpcError('PolicyDenied', `accept_dlc for contract ${id} from ${peer}, which is not the peer it was offered to`);
      await signAccept(ctx, msg.hex, caller, { peer, extra: [done] });
      return;
    }
    case MSG.sign: {
      const cid = decodeSign(Buffer.from(msg.hex, 'hex')).contract_id;
      const rec = (await list(ctx)).find((r) => r.contract_id === cid && r.role === 'accepter');
      if (!rec) throw rpcError('NotFound', `sign_dlc for an unknown contract (contract_id ${cid})`);
      if (rec.peer !== peer) throw rpcError('PolicyDenied', `sign_dlc for contract ${rec.id} from ${peer}, which is not its offerer`);
      await finalize(ctx, msg.hex, caller, { peer, extra: [done] });
      return;
    }
    case MSG.close: {
      const c = decodeClose(Buffer.from(msg.hex, 'hex'));
      const rec = (await list(ctx)).find((r) => r.contract_id === c.contract_id);
      if (!rec) throw rpcError('NotFound', `close_dlc for an unknown contract (contract_id ${c.contract_id})`);
      if (rec.peer !== peer) throw rpcError('PolicyDenied', `close_dlc for contract ${rec.id} from ${peer}, which is not its counterparty`);
      if (rec.state !== 'broadcast' && rec.state !== 'confirmed') throw rpcError('Conflict', `close_dlc for contract ${rec.id}, which is ${rec.state}`);
      // Kept (the latest one) for dlc.acceptclose id=, which checks it in full; nothing signed on receipt.
      const kept: ReceivedClose = { id: rec.id, peer, close: msg.hex, received: new Date().toISOString() };
      await ctx.store.batch([done, { type: 'put', sublevel: ctx.db, key: `k:${rec.id}`, value: kept }], { sync: true });
      const ours = rec.role === 'offerer' ? c.offer_payout : c.accept_payout;
      ctx.log.info({ id: rec.id, peer }, 'a DLC mutual close proposal taken from a peer');
      ctx.bus.publish(DLC_CLOSEPROPOSED, {
        id: rec.id,
        peer,
        payout_sat: Number(ours),
        offer_payout_sat: Number(c.offer_payout),
        accept_payout_sat: Number(c.accept_payout),
      });
      return;
    }
    default:
      throw rpcError('InvalidParams', `message type ${msg.type} is not one the DLC room takes from peers yet`);
  }
}

/** An offer from a peer: read and checked as dlc.decodeoffer does, kept (r:<id>) and told; nothing signed. */
async function takeOffer(ctx: DlcContext, peer: string, offerHex: string, done: BatchOp): Promise<void> {
  const terms = await decodeOffer(ctx, offerHex);
  const id = terms.temporary_contract_id;
  if ((await ctx.db.get(`c:${id}`)) || (await ctx.db.get(`r:${id}`))) throw rpcError('Conflict', `an offer of contract ${id} is known already (a replay)`);
  let waiting = 0;
  let all = 0;
  for await (const v of ctx.db.values({ gte: 'r:', lt: 'r;' })) {
    all++;
    if ((v as ReceivedOffer).peer === peer) waiting++;
  }
  if (all >= MAX_OFFERS)
    throw rpcError('PolicyDenied', `${all} offers from peers wait for dlc.accept already (at most ${MAX_OFFERS}); dlc.cancel declines one`);
  if (waiting >= MAX_OFFERS_PER_PEER)
    throw rpcError('PolicyDenied', `${waiting} offers from ${peer} wait for dlc.accept already (at most ${MAX_OFFERS_PER_PEER} a peer)`);
  const kept: ReceivedOffer = { id, peer, offer: offerHex, received: new Date().toISOString(), refusal: terms.refusal };
  await ctx.store.batch([done, { type: 'put', sublevel: ctx.db, key: `r:${id}`, value: kept }], { sync: true });
  ctx.log.info({ id, peer, refusal: terms.refusal }, 'a DLC offer taken from a peer');
  ctx.bus.publish(DLC_OFFERED, { id, peer, terms, refusal: terms.refusal });
}

/** A mutual close a contract's peer proposed (dlc.acceptclose id=): the latest. */
export interface ReceivedClose {
  id: string;
  peer: string;
  close: string;
  received: string;
}

export async function receivedClose(ctx: DlcContext, id: string): Promise<ReceivedClose> {
  const r = (await ctx.db.get(`k:${id}`)) as ReceivedClose | undefined;
  if (!r) throw rpcError('NotFound', `no mutual close of contract ${id} proposed by its peer (dlc.closeproposed names them)`);
  return r;
}

/** An offer a peer sent (dlc.accept id=). */
export async function receivedOffer(ctx: DlcContext, id: string): Promise<ReceivedOffer> {
  const r = (await ctx.db.get(`r:${id}`)) as ReceivedOffer | undefined;
  if (!r) throw rpcError('NotFound', `no offer ${id} taken from a peer (dlc.offered names them)`);
  return r;
}
