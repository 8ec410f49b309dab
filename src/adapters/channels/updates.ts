// Updating a channel's state (BOLT 2's commitment_signed / revoke_and_ack, as update → ack → revoke): the
// proposer's update carries its signature on the counterparty's next commitment; the answer signs back and reveals
// the secret of the state before; the revoke reveals the proposer's. The order of writes is what makes it safe: a
// party stores the counterparty's signature on its new commitment before it reveals the secret that revokes its
// previous one, and stores a revealed secret before it signs the next state.

import { rpcError } from '../../core/errors.js';
import { checkOurs, done, get, message, ourPoint, ourSecret, prepareNext, save, signTheirs, validate, type ChannelContext } from './context.js';
import type { JusticeBlob } from './justice.js';
import { field, type Envelope } from './messages.js';
import { justiceBlob } from './penalties.js';
import { hex, stored, toState, wrap, type ChannelRecord } from './record.js';
import { acceptRevealedSecret, checkConsent, ownDecrease } from './rules.js';
import { openSecrets, sealSecrets } from './secrets.js';
import { expectSettledOpen } from './state.js';
import type { ChannelState } from './transactions.js';

/**
 * Two steps side by side, both awaited even when one fails (so no write or signature is still running when the
 * step's error reaches its caller, who may release the channel's lock); the first error is thrown.
 */
async function both<A, B>(a: Promise<A>, b: Promise<B>): Promise<[A, B]> {
  const [x, y] = await Promise.allSettled([a, b]);
  if (x.status === 'rejected') throw x.reason;
  if (y.status === 'rejected') throw y.reason;
  return [x.value, y.value];
}

/** Proposes the next state: our signature on their commitment of it goes in the update message. */
export async function update(
  room: ChannelContext,
  id: string,
  p: { to_opener_sat: number; to_accepter_sat: number; app_hash?: string },
  caller: string,
): Promise<{ id: string; number: number; message: string }> {
  return room.locks.run(id, async () => {
    const rec = await get(room, id);
    expectSettledOpen(rec, 'states are updated while it is open (its funding confirmed)');
    const next: ChannelState = {
      number: rec.current.number + 1,
      to_opener_sat: BigInt(p.to_opener_sat),
      to_accepter_sat: BigInt(p.to_accepter_sat),
      app_hash: (p.app_hash ?? rec.current.app_hash).toLowerCase(),
    };
    validate(room, rec, next);
    // Our own proposal: the payment it makes (if any) is what this call asked for.
    // Signed first: a signature the policy denies leaves nothing written.
    const sig = await signTheirs(room, rec, next, ownDecrease(rec.role, toState(rec.current), next), caller);
    // The record's synced write and the message's signature (with its audit entry) side by side: the message
    // leaves only when both are done (this call's answer, or done() in a unit), so nothing leaves before the
    // record says they may hold the state.
    const proposed: ChannelRecord = { ...rec, pending: { state: stored(next), step: 'proposed' }, their_signed: next.number };
    const [, msg] = await both(save(room, proposed, rec.state), message(room, proposed, 'update', { ...stored(next), sig }, caller));
    await done(room, msg);
    return { id, number: next.number, message: msg };
  });
}

export async function onUpdate(
  room: ChannelContext,
  rec: ChannelRecord,
  e: Envelope,
  maxPaySat: number | undefined,
  caller: string,
): Promise<{ rec: ChannelRecord; reply: string }> {
  if (rec.state !== 'open') throw rpcError('Conflict', `channel ${rec.id} is ${rec.state}: an update does not fit it`);
  if (rec.pending) throw rpcError('Conflict', `channel ${rec.id} has state ${rec.pending.state.number} in flight (both proposed at once: finish or retry)`);
  const next = wrap(() => ({
    number: field.int(e.body, 'number', 0, 2 ** 47),
    to_opener_sat: field.sat(e.body, 'to_opener_sat'),
    to_accepter_sat: field.sat(e.body, 'to_accepter_sat'),
    app_hash: field.hex(e.body, 'app_hash', 32),
  }));
  const sig = wrap(() => field.sig(e.body, 'sig'));
  validate(room, rec, next);
  // Consent: a state that lowers our balance is signed only as far as the local admin's standing allowance or
  // this very call's max_pay_sat approve it (never on the counterparty's word alone).
  const prev = toState(rec.current);
  const allowance = BigInt(maxPaySat ?? 0) > room.policy.autopayMaxSat ? BigInt(maxPaySat ?? 0) : room.policy.autopayMaxSat;
  checkConsent(rec.role, prev, next, allowance, rec.id);
  // Their signature on our new commitment is verified before our secret of the previous one leaves.
  await checkOurs(room, rec, next, sig, caller);
  const prevNumber = rec.current.number;
  // Our new commitment, signed by them, is durable before we revoke the one before it.
  // One synced write before anything leaves: our new commitment with their signature (before our secret of the
  // previous one is revealed), and their_signed raised before we sign theirs (saying they may hold it is safe).
  // No sc.channel event for the new number yet: until their revoke comes, they can still broadcast their
  // commitment of the state before (it is not revoked), so a payment to us in this state is not final. The event
  // comes with the revoke (onRevoke), as it comes to the proposer with the ack that revokes the state before.
  // The write runs beside the signatures (theirs, then the ack's): the ack, which reveals our secret and carries our
  // signature, leaves only once both are done (this call's answer, or done() in a unit).
  const acked: ChannelRecord = {
    ...rec,
    current: stored(next),
    current_sig: sig,
    their_signed: next.number,
    pending: { state: stored(next), step: 'acked', before: rec.current },
  };
  const [saved, reply] = await both(
    save(room, acked, rec.state),
    (async () => {
      const theirSig = await signTheirs(room, acked, next, ownDecrease(rec.role, prev, next), caller);
      const secret = await ourSecret(room, acked, prevNumber, caller);
      const nextPoint = await ourPoint(room, acked, next.number + 1, caller);
      return message(room, acked, 'ack', { number: next.number, sig: theirSig, secret: hex(secret), next_point: hex(nextPoint) }, caller);
    })(),
  );
  return { rec: saved, reply };
}

/**
 * Stores a revealed secret of theirs after checking it against the point they gave for that state and against the
 * secrets revealed before (opened for the check); what is kept is sealed (secrets.ts).
 */
async function takeSecret(
  room: ChannelContext,
  rec: ChannelRecord,
  n: number,
  secretHex: string,
): Promise<Pick<ChannelRecord, 'their_secrets' | 'their_revoked' | 'their_points'>> {
  const before = await openSecrets(room.hsm, rec.id, rec.their_secrets);
  const secrets = acceptRevealedSecret(before, n, rec.their_points[n], Buffer.from(secretHex, 'hex'));
  const points = { ...rec.their_points };
  delete points[n];
  return { their_secrets: await sealSecrets(room.hsm, rec.id, secrets, rec.their_secrets), their_revoked: n, their_points: points };
}

export async function onAck(
  room: ChannelContext,
  rec: ChannelRecord,
  e: Envelope,
  caller: string,
): Promise<{ rec: ChannelRecord; reply: string; justice?: JusticeBlob }> {
  if (rec.state !== 'open' || rec.pending?.step !== 'proposed')
    throw rpcError('Conflict', `channel ${rec.id} has no proposed state to be acknowledged (replayed ack?)`);
  const next = toState(rec.pending.state);
  const number = wrap(() => field.int(e.body, 'number', 0, 2 ** 47));
  if (number !== next.number) throw rpcError('InvalidParams', `the ack is for state ${number}, not the proposed ${next.number}`);
  const sig = wrap(() => field.sig(e.body, 'sig'));
  const secret = wrap(() => field.hex(e.body, 'secret', 32));
  const nextPoint = wrap(() => field.point(e.body, 'next_point'));
  await checkOurs(room, rec, next, sig, caller);
  const prevNumber = rec.current.number;
  const revoked = await takeSecret(room, rec, prevNumber, secret);
  // Their revocation of the previous state and our new commitment are durable before we revoke ours.
  // (The write and the revoke's signature side by side: the revoke leaves only once both are done.)
  const settled: ChannelRecord = {
    ...rec,
    ...revoked,
    their_points: { ...revoked.their_points, [next.number + 1]: nextPoint },
    current: stored(next),
    current_sig: sig,
    pending: null,
  };
  const [saved, reply] = await both(
    save(room, settled, rec.state, true),
    (async () => {
      const body = {
        number: prevNumber,
        secret: hex(await ourSecret(room, settled, prevNumber, caller)),
        next_point: hex(await ourPoint(room, settled, next.number + 1, caller)),
      };
      return message(room, settled, 'revoke', body, caller);
    })(),
  );
  const justice = room.policy.justice ? await justiceBlob(room, saved, toState(rec.current), Buffer.from(secret, 'hex'), caller) : undefined;
  prepareNext(room, saved);
  return { rec: saved, reply, justice };
}

export async function onRevoke(room: ChannelContext, rec: ChannelRecord, e: Envelope, caller: string): Promise<{ rec: ChannelRecord; justice?: JusticeBlob }> {
  if (rec.pending?.step !== 'acked') throw rpcError('Conflict', `channel ${rec.id} waits for no revocation (replayed revoke?)`);
  const number = wrap(() => field.int(e.body, 'number', 0, 2 ** 47));
  if (number !== rec.current.number - 1) throw rpcError('InvalidParams', `the revocation is of state ${number}, not ${rec.current.number - 1}`);
  const secret = wrap(() => field.hex(e.body, 'secret', 32));
  const revoked = await takeSecret(room, rec, number, secret);
  const nextPoint = wrap(() => field.point(e.body, 'next_point'));
  const before = rec.pending.before;
  // Their previous state is revoked: the current one is final for this side, and told now (sc.channel).
  const saved = await save(
    room,
    { ...rec, ...revoked, their_points: { ...revoked.their_points, [rec.current.number + 1]: nextPoint }, pending: null },
    rec.state,
    true,
  );
  const justice = room.policy.justice && before ? await justiceBlob(room, saved, toState(before), Buffer.from(secret, 'hex'), caller) : undefined;
  prepareNext(room, saved);
  return { rec: saved, justice };
}
