// Closing a channel: cooperatively (our close message with our signature on the closing transaction of the current
// state; the counterparty's anyad signs it too and broadcasts it) or by force (our latest commitment, with both
// signatures, to the chain; following.ts sweeps our to_local after the delay).

import { rpcError } from '../../core/errors.js';
import { contract, done, fundingSign, get, message, ourPoint, save, terms, whenDurable, type ChannelContext } from './context.js';
import { field, type Envelope } from './messages.js';
import { bothSigs, hex, toState, wrap, type ChannelRecord } from './record.js';
import { checkCounterpartySig } from './rules.js';
import { expectForceClosable, expectSettledOpen } from './state.js';
import { closingTx, commitmentTx, fundingSighash, fundingWitness } from './transactions.js';

/** Proposes the cooperative close of the current state; the counterparty's anyad signs and broadcasts it. */
export async function closeChannel(room: ChannelContext, id: string, caller: string): Promise<{ id: string; message: string }> {
  return room.locks.run(id, async () => {
    const rec = await get(room, id);
    expectSettledOpen(rec, 'an open channel closes cooperatively');
    const t = terms(rec);
    const tx = closingTx(t, toState(rec.current));
    const sig = hex(await fundingSign(room, rec, fundingSighash(tx, t), caller, contract(rec, 'close')));
    const saved = await save(room, { ...rec, state: 'closing', closing_txid: tx.getId() }, rec.state);
    const msg = await message(room, saved, 'close', { number: rec.current.number, sig }, caller);
    await done(room, msg);
    return { id, message: msg };
  });
}

/** The counterparty's close of the current state: signed by us too and broadcast. */
export async function onClose(room: ChannelContext, rec: ChannelRecord, e: Envelope, caller: string): Promise<{ rec: ChannelRecord; txid: string }> {
  if (rec.state !== 'open' || rec.pending)
    throw rpcError('Conflict', `channel ${rec.id} is ${rec.state}${rec.pending ? ' with a state in flight' : ''}: a close does not fit it`);
  const number = wrap(() => field.int(e.body, 'number', 0, 2 ** 47));
  if (number !== rec.current.number) throw rpcError('InvalidParams', `the close is of state ${number}; the current state is ${rec.current.number}`);
  const theirSig = wrap(() => field.sig(e.body, 'sig'));
  const t = terms(rec);
  const tx = closingTx(t, toState(rec.current));
  const digest = fundingSighash(tx, t);
  checkCounterpartySig(theirSig, digest, rec.theirs!.funding, 'the closing transaction of the current state');
  const ours = await fundingSign(room, rec, digest, caller, contract(rec, 'close'));
  tx.setWitness(0, fundingWitness(t, bothSigs(rec.role, ours, theirSig)));
  const saved = await save(room, { ...rec, state: 'closing', closing_txid: tx.getId(), closing_hex: tx.toHex(), closed_by: 'cooperative' }, rec.state);
  // Sent again at every block while it does not confirm (following.ts: closing_hex).
  await whenDurable(room, 'the closing broadcast', async () => {
    await room.chain.broadcast(tx.toHex(), 'the closing');
    room.log.info({ id: rec.id, txid: tx.getId() }, 'channel closed cooperatively: closing transaction broadcast');
  });
  return { rec: saved, txid: tx.getId() };
}

/** Our latest commitment, with both signatures, to the chain; to_local is swept back after the delay (payouts.ts: where to). */
export async function forceClose(room: ChannelContext, id: string, caller: string): Promise<{ id: string; txid: string; number: number }> {
  return room.locks.run(id, async () => {
    const rec = await get(room, id);
    const theirSig = expectForceClosable(rec);
    const t = terms(rec);
    const s = toState(rec.current);
    const tx = commitmentTx(t, s, rec.role, await ourPoint(room, rec, s.number, caller));
    const ours = await fundingSign(room, rec, fundingSighash(tx, t), caller, contract(rec, 'commitment'));
    tx.setWitness(0, fundingWitness(t, bothSigs(rec.role, ours, theirSig)));
    const saved = await save(
      room,
      { ...rec, state: 'force_closing', closing_txid: tx.getId(), closing_hex: tx.toHex(), closed_by: 'unilateral', pending: null },
      rec.state,
    );
    await room.chain.broadcast(tx.toHex(), 'the commitment');
    room.log.warn({ id, txid: tx.getId(), number: s.number }, 'channel force-closed: our commitment broadcast');
    return { id: saved.id, txid: tx.getId(), number: s.number };
  });
}
