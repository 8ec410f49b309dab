// sc.receive: any message after open, checked for this network and signed by the channel's counterparty (the
// accept by the key it names, which the rest then binds), then handed under the channel's lock to the step that
// takes it (opening.ts, updates.ts, closing.ts); answered with the next message to carry back, or null. takeStep is
// the same for a message that came over the peer network (peering.ts).

import { rpcError } from '../../core/errors.js';
import { authentic, done, read, type ChannelContext } from './context.js';
import { onClose } from './closing.js';
import type { JusticeBlob } from './justice.js';
import { field, type Envelope } from './messages.js';
import { onAccept, onFundingCreated, onFundingSigned } from './opening.js';
import { wrap, type ChannelRecord, type ChannelStateName } from './record.js';
import { onAck, onRevoke, onUpdate } from './updates.js';

export interface Received {
  id: string;
  state: ChannelStateName;
  number: number;
  message: string | null;
  txid?: string;
  justice?: JusticeBlob;
}

export async function receive(room: ChannelContext, hexMsg: string, approval: { max_pay_sat?: number }, caller: string): Promise<Received> {
  const { e, sig } = read(room, hexMsg);
  if (e.type === 'open') throw rpcError('InvalidParams', 'an open message is for sc.accept');
  return room.locks.run(e.channel, async () => {
    const known = (await room.db.get(`c:${e.channel}`)) as ChannelRecord | undefined;
    if (!known) throw rpcError('NotFound', `no channel ${e.channel} (a message for another channel)`);
    // Its messages come by themselves, each taken once (peering.ts): one carried by hand as well would be a replay.
    if (known.peer)
      throw rpcError('Conflict', `channel ${known.id} runs over the peer network with ${known.peer}: its messages come from that peer, not sc.receive`);
    return takeStep(room, known, e, sig, approval, caller);
  });
}

/**
 * Takes one message (not open) for a known channel, under the channel's lock: checks that the counterparty signed it
 * (the accept by the key it names, which the rest then binds), hands it to its step, and ends with done() (in a
 * unit, the step's writes and its answer are committed together there).
 */
export async function takeStep(
  room: ChannelContext,
  known: ChannelRecord,
  e: Envelope,
  sig: string,
  approval: { max_pay_sat?: number },
  caller: string,
): Promise<Received> {
  let rec = known;
  if (e.type === 'accept') {
    // The accepter's keys come in this message: it is checked with the key it names, which the rest then binds.
    const k = (e.body.keys ?? {}) as Record<string, unknown>;
    const funding = wrap(() => field.hex(k, 'funding', 33));
    authentic(e, sig, funding);
  } else {
    if (!rec.theirs) throw rpcError('Conflict', `channel ${rec.id} is ${rec.state}: a ${e.type} message does not fit it`);
    authentic(e, sig, rec.theirs.funding);
  }
  let reply: string | null = null;
  let txid: string | undefined;
  let justice: JusticeBlob | undefined;
  switch (e.type) {
    case 'open':
      throw rpcError('InvalidParams', 'an open message is for sc.accept');
    case 'accept':
      ({ rec, reply } = await onAccept(room, rec, e, caller));
      break;
    case 'funding_created':
      ({ rec, reply } = await onFundingCreated(room, rec, e, caller));
      break;
    case 'funding_signed':
      ({ rec, txid } = await onFundingSigned(room, rec, e, caller));
      break;
    case 'update':
      ({ rec, reply } = await onUpdate(room, rec, e, approval.max_pay_sat, caller));
      break;
    case 'ack':
      ({ rec, reply, justice } = await onAck(room, rec, e, caller));
      break;
    case 'revoke':
      ({ rec, justice } = await onRevoke(room, rec, e, caller));
      break;
    case 'close':
      ({ rec, txid } = await onClose(room, rec, e, caller));
      break;
  }
  await done(room, reply);
  return { id: rec.id, state: rec.state, number: rec.current.number, message: reply, ...(txid ? { txid } : {}), ...(justice ? { justice } : {}) };
}
