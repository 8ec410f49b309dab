// The rules every state and every revealed secret of a channel must pass, as pure functions: the service applies
// them to what a party proposes or receives, and the tests call them directly. A broken rule is an InvalidParams
// error whose message names it.

import { rpcError } from '../../rpc/errors.js';
import { perCommitmentPoint } from './keys.js';
import { MAX_INDEX, SecretStore, ShachainError, type StoredSecret } from './shachain.js';
import { DUST_LIMIT, type ChannelState } from './transactions.js';

/** An application's rule over a proposed state (the generic rules always apply first): a reason to refuse, or undefined. */
export type StateRule = (channel: { id: string; capacity_sat: bigint }, previous: ChannelState, next: ChannelState) => string | undefined;

/**
 * The next state after `prev`: its number is the next one, both balances are 0 or above the dust limit and add up
 * to the capacity minus the commitment fee, the app data is 32 bytes, and every application rule agrees.
 */
export function checkNextState(
  channel: { id: string; capacity_sat: bigint; fee_sat: bigint },
  prev: ChannelState,
  next: ChannelState,
  rules: ReadonlyMap<string, StateRule> = new Map(),
): void {
  const { capacity_sat: capacity, fee_sat: fee } = channel;
  if (next.number !== prev.number + 1) throw rpcError('InvalidParams', `state ${next.number} does not follow state ${prev.number} (replayed or out of order)`);
  if (next.to_opener_sat < 0n || next.to_accepter_sat < 0n) throw rpcError('InvalidParams', 'a balance is negative');
  if (next.to_opener_sat + next.to_accepter_sat !== capacity - fee)
    throw rpcError(
      'InvalidParams',
      `the balances add up to ${next.to_opener_sat + next.to_accepter_sat} sat; they must add up to the capacity minus the commitment fee, ${capacity - fee} sat`,
    );
  for (const [who, v] of [
    ['opener', next.to_opener_sat],
    ['accepter', next.to_accepter_sat],
  ] as const)
    if (v > 0n && v < DUST_LIMIT)
      throw rpcError('InvalidParams', `the ${who}'s balance of ${v} sat is dust (under ${DUST_LIMIT} sat): give it 0 or at least ${DUST_LIMIT}`);
  if (!/^[0-9a-f]{64}$/.test(next.app_hash)) throw rpcError('InvalidParams', 'app_hash must be 32 bytes of lowercase hex');
  for (const [name, rule] of rules) {
    const reason = rule({ id: channel.id, capacity_sat: capacity }, prev, next);
    if (reason) throw rpcError('InvalidParams', `the application rule ${name} refuses state ${next.number}: ${reason}`);
  }
}

/**
 * A revealed per-commitment secret of state n, checked against the point given for n and against the secrets
 * revealed before (BOLT 3: each must derive the earlier ones it covers); the store's entries with it added.
 */
export function acceptRevealedSecret(saved: StoredSecret[], n: number, pointHex: string | undefined, secret: Uint8Array): StoredSecret[] {
  if (!pointHex) throw rpcError('InvalidParams', `no point of state ${n} to check its secret against`);
  if (Buffer.from(perCommitmentPoint(secret)).toString('hex') !== pointHex)
    throw rpcError('InvalidParams', `the revealed secret of state ${n} does not match its per-commitment point`);
  const store = new SecretStore(saved);
  try {
    store.insert(secret, MAX_INDEX - BigInt(n));
  } catch (err) {
    if (err instanceof ShachainError) throw rpcError('InvalidParams', err.message);
    throw err;
  }
  return store.save();
}
