// A channel as the room keeps it: the record one LevelDB entry holds per channel (c:<id>), the conversions between
// its stored states (amounts as decimal strings: JSON has no bigint) and the states the transactions are built
// from, a new record's defaults, and the translation of a malformed message's error into a JSON-RPC refusal.

import * as bitcoin from 'bitcoinjs-lib';
import { rpcError } from '../../core/errors.js';
import { MessageError } from './messages.js';
import { ShachainError } from './shachain.js';
import type { WalletInput } from '../../wallet/api.js';
import type { KeptSecret } from './secrets.js';
import type { ChannelState, PartyKeys } from './transactions.js';

export type ChannelStateName =
  'opening' | 'accepted' | 'funding' | 'open' | 'closing' | 'force_closing' | 'remote_closing' | 'penalizing' | 'closed' | 'cancelled' | 'failed';

export type Role = 'opener' | 'accepter';
export const other = (r: Role): Role => (r === 'opener' ? 'accepter' : 'opener');

/** A state as stored (amounts as decimal strings: JSON has no bigint). */
export interface StoredState {
  number: number;
  to_opener_sat: string;
  to_accepter_sat: string;
  app_hash: string;
}

export interface ChannelRecord {
  id: string;
  role: Role;
  state: ChannelStateName;
  capacity_sat: string;
  fee_sat: string;
  fee_rate_sat_vb: number;
  /**
   * Blocks this side waits for its own balance after broadcasting its commitment: the to_self_delay the
   * counterparty required of it (BOLT 2; 0 for the opener until the accept tells it).
   */
  to_self_delay: number;
  /**
   * Blocks the counterparty waits after broadcasting its commitment: the to_self_delay this side required of it,
   * the window to punish a revoked state of theirs. Absent in records from before it was kept apart (both were
   * to_self_delay then).
   */
  their_to_self_delay?: number;
  /** Why the channel failed (state 'failed'): a funding output that is not this channel's, an unknown spend of it. */
  failure?: string | null;
  /**
   * HSM key ids: funding, revocation basepoint, payment basepoint (where the counterparty's commitment pays us, and
   * closes, sweeps and penalties when no payout script says otherwise), delayed basepoint.
   */
  keys: { funding: string; revocation: string; payment: string; delayed: string };
  ours: PartyKeys;
  theirs: PartyKeys | null;
  /**
   * The payout scripts (hex) of the cooperative close (BOLT 2's upfront_shutdown_script): ours as our open or accept
   * named it, theirs as their message named it. The close pays them only when both are known: absent in records of
   * an earlier anyad and when a party's message named none (an earlier anyad), and then both balances go to the
   * payment basepoints, as that anyad builds the close.
   */
  our_payout?: string;
  their_payout?: string;
  /**
   * Where our sweeps and penalties pay (hex script): a wallet address taken once for the channel (at its open or
   * accept, or at its first claim when the record has none) and kept, so every fee bump and every restart pays the
   * same script. Absent: our payment basepoint's P2WPKH (the wallet room off).
   */
  claim_script?: string;
  /**
   * The counterparty's node key (66 hex) when the channel runs over the peer network (sc.open peer=, sc.accept
   * id=): every message goes to it and is taken only from it. Absent: apps carry the messages (sc.receive).
   */
  peer?: string;
  /** The opener's funding inputs, and the funding PSBT once made (signed only after the first commitments are). */
  utxos: Array<{ txid: string; vout: number }>;
  funding_psbt: string | null;
  /**
   * A channel the wallet room funds (sc.open without utxos): the coins' key origins for the HSM, promised to
   * 'sc:<id>', and the wallet's change address for the funding's change.
   */
  wallet?: { inputs: WalletInput[]; change_address: string };
  /**
   * The opener's signed funding transaction, kept from before its first broadcast: sent again at every block until
   * it confirms (a node may drop it from its mempool, or never have taken it). Absent in older records.
   */
  funding_hex?: string | null;
  funding_txid: string | null;
  funding_vout: number | null;
  /** The latest state whose commitment we hold with the counterparty's signature. */
  current: StoredState;
  current_sig: string | null;
  /** A state one of us proposed that is not settled yet: 'proposed' (we sent update) or 'acked' (we answered it). */
  pending: { state: StoredState; step: 'proposed' | 'acked'; before?: StoredState } | null;
  /** The counterparty's per-commitment points by state number (the ones still needed). */
  their_points: Record<string, string>;
  /**
   * The counterparty's revealed per-commitment secrets (BOLT 3 shachain: at most 49 entries), each sealed by the
   * HSM room (secrets.ts); in clear only in a record an earlier anyad wrote, until the sweep seals it.
   */
  their_secrets: KeptSecret[];
  /** Their highest revoked state number (-1: none). */
  their_revoked: number;
  /** Their highest state that we signed: they may still hold it and everything after their_revoked. */
  their_signed: number;
  closing_txid: string | null;
  closing_hex: string | null;
  closed_by: 'cooperative' | 'unilateral' | 'remote_unilateral' | 'penalty' | 'unknown' | null;
  /**
   * Our sweep or penalty transaction, its fee, while it is not confirmed; tip_height: the node's tip when its latest
   * version was sent (a penalty's fee goes up only once a block above it came; absent in older records: it may).
   */
  claim: { txid: string; fee_sat: string; kind: 'sweep' | 'penalty'; vout: number; commitment: string; sent: string[]; tip_height?: number } | null;
  /** The chain height up to which blocks were looked at for a spend of the funding output. */
  scan_height: number;
  created: string;
  updated: string;
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
export const toState = (s: StoredState): ChannelState => ({ ...s, to_opener_sat: BigInt(s.to_opener_sat), to_accepter_sat: BigInt(s.to_accepter_sat) });
export const stored = (s: ChannelState): StoredState => ({ ...s, to_opener_sat: s.to_opener_sat.toString(), to_accepter_sat: s.to_accepter_sat.toString() });
export const ZERO_HASH = '0'.repeat(64);
export const SIGHASH_ALL = Buffer.of(bitcoin.Transaction.SIGHASH_ALL);

/** Both parties' signatures on a funding-output spend, by role, as fundingWitness takes them (SIGHASH_ALL appended). */
export function bothSigs(role: Role, ours: Buffer, theirsHex: string): { opener: Buffer; accepter: Buffer } {
  return { [role]: Buffer.concat([ours, SIGHASH_ALL]), [other(role)]: Buffer.concat([Buffer.from(theirsHex, 'hex'), SIGHASH_ALL]) } as {
    opener: Buffer;
    accepter: Buffer;
  };
}

/** A new channel's record: what the opening party knows, nothing signed or funded yet. */
export function newRecord(
  r: Pick<
    ChannelRecord,
    | 'id'
    | 'role'
    | 'state'
    | 'capacity_sat'
    | 'fee_sat'
    | 'fee_rate_sat_vb'
    | 'to_self_delay'
    | 'their_to_self_delay'
    | 'keys'
    | 'ours'
    | 'theirs'
    | 'utxos'
    | 'current'
    | 'their_points'
  >,
): ChannelRecord {
  const now = new Date().toISOString();
  return {
    ...r,
    funding_psbt: null,
    funding_txid: null,
    funding_vout: null,
    current_sig: null,
    pending: null,
    their_secrets: [],
    their_revoked: -1,
    their_signed: -1,
    closing_txid: null,
    closing_hex: null,
    closed_by: null,
    claim: null,
    failure: null,
    scan_height: 0,
    created: now,
    updated: now,
  };
}

/** A malformed message's or secret's error as the JSON-RPC refusal it is (InvalidParams); others as they are. */
export function asRpc(err: unknown): Error {
  if (err instanceof MessageError || err instanceof ShachainError) return rpcError('InvalidParams', err.message);
  return err as Error;
}

/** Reads message fields: a malformed one refused as InvalidParams. */
export function wrap<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw asRpc(err);
  }
}
