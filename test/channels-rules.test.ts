// The state channel validator, rule by rule (src/adapters/channels/rules.ts): what the service applies to every
// state proposed or received and to every revealed per-commitment secret. The end-to-end refusals over the socket
// are in channels.test.ts; here each rule is broken alone, including the ones a well-behaved anyad never sends
// (a secret that does not match its point, one that does not derive the earlier ones), and an application's rule.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { perCommitmentPoint } from '../src/adapters/channels/keys.js';
import { acceptRevealedSecret, checkNextState, type StateRule } from '../src/adapters/channels/rules.js';
import { MAX_INDEX, secretFromSeed } from '../src/adapters/channels/shachain.js';
import type { ChannelState } from '../src/adapters/channels/transactions.js';

const channel = { id: 'c1', capacity_sat: 1_000_000n, fee_sat: 404n };
const avail = channel.capacity_sat - channel.fee_sat;
const state = (number: number, toAccepter: bigint, app = 'ab'.repeat(32)): ChannelState => ({
  number,
  to_opener_sat: avail - toAccepter,
  to_accepter_sat: toAccepter,
  app_hash: app,
});
const refused = (f: () => void, re: RegExp): void =>
  assert.throws(f, (err: Error & { code?: number }) => {
    assert.equal(err.code, -32602);
    assert.match(err.message, re);
    return true;
  });

describe('state channel rules', () => {
  const prev = state(7, 100_000n);

  it('the next state passes; a number that is not the next, balances that do not add up, dust, bad app data do not', () => {
    checkNextState(channel, prev, state(8, 200_000n));
    checkNextState(channel, prev, state(8, 0n));
    refused(() => checkNextState(channel, prev, state(7, 200_000n)), /state 7 does not follow state 7/);
    refused(() => checkNextState(channel, prev, state(9, 200_000n)), /state 9 does not follow state 7/);
    refused(() => checkNextState(channel, prev, { ...state(8, 200_000n), to_opener_sat: avail }), /add up to 1199596 sat; .* 999596 sat/);
    refused(() => checkNextState(channel, prev, { ...state(8, 0n), to_opener_sat: -1n, to_accepter_sat: avail + 1n }), /negative/);
    refused(() => checkNextState(channel, prev, state(8, 545n)), /accepter's balance of 545 sat is dust/);
    refused(() => checkNextState(channel, prev, state(8, avail - 100n)), /opener's balance of 100 sat is dust/);
    refused(() => checkNextState(channel, prev, state(8, 200_000n, 'AB'.repeat(32))), /app_hash must be 32 bytes of lowercase hex/);
  });

  it("an application's rule is applied after the generic ones, and names itself", () => {
    // A game where the accepter's balance moves by at most 100,000 sat a move.
    const rules = new Map<string, StateRule>([
      [
        'bounded-move',
        (_c, p, n) =>
          n.to_accepter_sat - p.to_accepter_sat > 100_000n || p.to_accepter_sat - n.to_accepter_sat > 100_000n ? 'a move is 100000 sat at most' : undefined,
      ],
    ]);
    checkNextState(channel, prev, state(8, 200_000n), rules);
    refused(() => checkNextState(channel, prev, state(8, 200_001n), rules), /application rule bounded-move refuses state 8: a move is 100000 sat at most/);
    // The generic rules still come first.
    refused(() => checkNextState(channel, prev, state(9, 150_000n), rules), /does not follow/);
  });

  it('a revealed secret must match its point and derive the secrets revealed before it', () => {
    const seed = Buffer.alloc(32, 7);
    const secret = (n: number): Uint8Array => secretFromSeed(seed, MAX_INDEX - BigInt(n));
    const point = (n: number): string => Buffer.from(perCommitmentPoint(secret(n))).toString('hex');
    let saved = acceptRevealedSecret([], 0, point(0), secret(0));
    saved = acceptRevealedSecret(saved, 1, point(1), secret(1));
    refused(() => acceptRevealedSecret(saved, 2, point(2), secret(3)), /secret of state 2 does not match its per-commitment point/);
    refused(() => acceptRevealedSecret(saved, 2, undefined, secret(2)), /no point of state 2/);
    // A secret that matches the point it was given but is from another chain of secrets: refused by the shachain.
    const other = secretFromSeed(Buffer.alloc(32, 8), MAX_INDEX - 3n);
    refused(
      () => acceptRevealedSecret(acceptRevealedSecret(saved, 2, point(2), secret(2)), 3, Buffer.from(perCommitmentPoint(other)).toString('hex'), other),
      /does not derive the one of commitment/,
    );
    // Many states later the store still holds at most 49 entries.
    for (let n = 2; n < 300; n++) saved = acceptRevealedSecret(saved, n, point(n), secret(n));
    assert.ok(saved.filter(Boolean).length <= 49);
  });
});
