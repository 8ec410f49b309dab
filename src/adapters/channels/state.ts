// The channel state machine: which states the chain is followed in, which message fits which state, which local
// operation a state allows. Pure checks on a record; each refusal is the Conflict that names the state it found.

import { rpcError } from '../../core/errors.js';
import type { ChannelRecord, ChannelStateName, Role } from './record.js';
import type { MessageType } from './messages.js';

/** The states whose funding output is followed on chain (at every block and every spend of it). */
export const WATCHED: readonly ChannelStateName[] = ['funding', 'open', 'closing', 'force_closing', 'remote_closing', 'penalizing'];

/** A cancelled channel whose funding we signed (after funding_signed): its funding may still appear. */
export const revivable = (r: ChannelRecord): boolean => r.state === 'cancelled' && r.role === 'opener' && r.funding_txid !== null && r.current_sig !== null;

/** An opening message fits one role in one state only: anything else is a replay or out of order. */
export function expectStep(rec: ChannelRecord, role: Role, state: ChannelStateName, type: MessageType): void {
  if (rec.role !== role || rec.state !== state)
    throw rpcError('Conflict', `channel ${rec.id} is ${rec.state} (${rec.role}): a ${type} message does not fit it (replayed?)`);
}

/** A local operation on the current state (sc.update, sc.close): only while the channel is open with nothing in flight. */
export function expectSettledOpen(rec: ChannelRecord, notOpen: string): void {
  if (rec.state !== 'open') throw rpcError('Conflict', `channel ${rec.id} is ${rec.state}: ${notOpen}`);
  if (rec.pending) throw rpcError('Conflict', `channel ${rec.id} has state ${rec.pending.state.number} in flight; finish it first`);
}

/** Which channels sc.cancel may drop: offered ones, and the opener's whose funding the chain has not seen (checked after). */
export function cancelStep(rec: ChannelRecord): 'offered' | 'funding' {
  if (rec.state === 'opening' || rec.state === 'accepted') return 'offered';
  if (rec.state === 'funding' && rec.role === 'opener') return 'funding';
  throw rpcError(
    'Conflict',
    `channel ${rec.id} is ${rec.state}: only a channel whose funding was never signed, or never reached the mempool or the chain, can be cancelled (sc.close or sc.forceclose)`,
  );
}

/** sc.forceclose: a state in which we hold the counterparty's signature on our commitment. */
export function expectForceClosable(rec: ChannelRecord): string {
  if (!['funding', 'open', 'closing'].includes(rec.state) || !rec.current_sig)
    throw rpcError('Conflict', `channel ${rec.id} is ${rec.state}: there is no commitment of ours to broadcast`);
  return rec.current_sig;
}
