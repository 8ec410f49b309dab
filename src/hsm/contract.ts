// Signatures for contracts (issue 26 item 8): what another room (DLC, state channels) tells the HSM with each
// signature it asks for, checked here before anything is signed, and the kind of key it may ask with.
// The rules, in words:
// - a key made through HsmApi.generateKey is a contract key of its kind ('dlc' or 'channel'), in the policy group
//   of that name unless the caller names one, so `hsm.setpolicy group:dlc` bounds every DLC's signatures;
// - a signature with a context counts its spends_sat against max_amount_sat (per signature) and velocity_24h_sat
//   (the subject's 24-hour counter, the same one hsm.signpsbt counts), in the critical section that writes the
//   counter; it is not raw signing (the room says what the digest commits to), so allow_raw_sign does not apply;
// - a contract key signing without a context is raw signing (hsm.sign, or a room that does not say why), under the
//   raw_sign rule like any key; a context on a key that was not made for a contract, or for another kind, is refused.
// allowlist, change_to_own_keys and the fee rules judge a transaction's outputs, which a digest does not show: they
// apply to hsm.signpsbt (with or without a context), not to a contract's digests.

import type { ContractSigning } from './api.js';

export type ContractKind = ContractSigning['kind'];
export const CONTRACT_KINDS: readonly ContractKind[] = ['dlc', 'channel'];

/** Why a context is malformed (a bug in the calling room: refused, never guessed at), or undefined. */
export function contractProblem(c: ContractSigning): string | undefined {
  if (!CONTRACT_KINDS.includes(c.kind)) return `contract.kind must be one of ${CONTRACT_KINDS.join(', ')}`;
  if (typeof c.contract !== 'string' || !/^[\x21-\x7e]{1,200}$/.test(c.contract)) return 'contract.contract must be 1..200 printable ASCII characters';
  // Empty only while the counterparty is not known yet (a channel's own open message, signed before any accept).
  if (typeof c.counterparty !== 'string' || !/^(?:[0-9a-f]{2,200})?$/i.test(c.counterparty))
    return 'contract.counterparty must be hex (the counterparty public key) or empty while not known yet';
  if (typeof c.purpose !== 'string' || !/^[a-z][a-z0-9_.-]{0,63}$/.test(c.purpose)) return 'contract.purpose must be a short lower-case word';
  if (!Number.isSafeInteger(c.spends_sat) || c.spends_sat < 0) return 'contract.spends_sat must be a non-negative integer';
  return undefined;
}

/** The kind a key made through HsmApi.generateKey belongs to: the one the caller names. */
export function contractKindOf(kind: ContractKind | undefined, label: string): ContractKind | undefined {
  if (kind) return kind;
  // The rooms of this tree label their keys 'dlc <id> <role>' and 'sc <id> <role>' (adapters/dlc, adapters/channels)
  // and do not pass a kind yet: read from that prefix until they do. Anything else stays unclassed (no group).
  if (label.startsWith('dlc ')) return 'dlc';
  if (label.startsWith('sc ')) return 'channel';
  return undefined;
}

/** What the audit entry of a contract signature names. */
export function contractDetail(c: ContractSigning): Record<string, unknown> {
  return { kind: c.kind, contract: c.contract, counterparty: c.counterparty, purpose: c.purpose, spends_sat: c.spends_sat };
}
