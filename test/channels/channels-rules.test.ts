// The state channel validator, rule by rule (src/adapters/channels/rules.ts): what the service applies to every
// state proposed or received and to every revealed per-commitment secret. The end-to-end refusals over the socket
// are in channels.test.ts; here each rule is broken alone, including the ones a well-behaved anyad never sends
// (a secret that does not match its point, one that does not derive the earlier ones), and an application's rule.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import * as bitcoin from 'bitcoinjs-lib';
import { perCommitmentPoint } from '../../src/adapters/channels/keys.js';
import { field, MessageError } from '../../src/adapters/channels/messages.js';
import {
  acceptRevealedSecret,
  checkConsent,
  checkCounterpartySig,
  checkFundingOutput,
  checkFundingTx,
  checkNextState,
  checkOwnDelay,
  checkTheirDelay,
  isCommitmentOf,
  isStrictDer,
  ownDecrease,
  signatureEncodingProblem,
  type StateRule,
} from '../../src/adapters/channels/rules.js';
import { MAX_INDEX, secretFromSeed } from '../../src/adapters/channels/shachain.js';
import { closingTx, commitmentTx, fundingScript, p2wsh, type ChannelState, type ChannelTerms } from '../../src/adapters/channels/transactions.js';

const channel = { id: 'c1', capacity_sat: 1_000_000n, fee_sat: 404n };
const avail = channel.capacity_sat - channel.fee_sat;
const state = (number: number, toAccepter: bigint, app = 'ab'.repeat(32)): ChannelState => ({
  number,
  to_opener_sat: avail - toAccepter,
  to_accepter_sat: toAccepter,
  app_hash: app,
});
const refused = (f: () => void, re: RegExp, code = -32602): void =>
  assert.throws(f, (err: Error & { code?: number }) => {
    assert.equal(err.code, code);
    assert.match(err.message, re);
    return true;
  });
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const key = (n: number): Uint8Array => Buffer.alloc(32, n);
const pub = (n: number): string => hex(secp256k1.getPublicKey(key(n), true));
const party = (base: number) => ({
  funding: pub(base),
  revocation_basepoint: pub(base + 1),
  payment_basepoint: pub(base + 2),
  delayed_payment_basepoint: pub(base + 3),
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

describe('state channel rules: to_self_delay, consent, signatures, funding, spends (issue 26)', () => {
  it('to_self_delay: ours at least the floor, theirs at most the ceiling (BOLT 2)', () => {
    checkOwnDelay(144, 144);
    refused(() => checkOwnDelay(143, 144), /to_self_delay 143 is under this anyad's floor of 144 blocks/, -32013);
    checkTheirDelay(2016, 2016);
    refused(() => checkTheirDelay(2017, 2016), /requires a to_self_delay of 2017 blocks of this side: over the 2016/);
  });

  it("consent: a state lowering this side's balance passes only within the allowance; raising it always passes", () => {
    const prev = state(3, 100_000n);
    const more = state(4, 150_000n); // the accepter gains, the opener pays 50,000
    assert.equal(ownDecrease('opener', prev, more), 50_000n);
    assert.equal(ownDecrease('accepter', prev, more), 0n);
    checkConsent('accepter', prev, more, 0n, 'c1');
    checkConsent('opener', prev, more, 50_000n, 'c1');
    assert.throws(
      () => checkConsent('opener', prev, more, 49_999n, 'c1'),
      (err: Error & { code?: number; data?: Record<string, unknown> }) => {
        assert.equal(err.code, -32013);
        assert.match(err.message, /pays it 50000 sat out of this side's balance, over the 49999 sat approved/);
        assert.deepEqual([err.data?.rule, err.data?.pays_sat, err.data?.number], ['sc.consent', 50_000, 4]);
        return true;
      },
    );
  });

  it('counterparty signatures: strict DER (BIP66), low S (BIP146), on the right digest and key', () => {
    const digest = Buffer.alloc(32, 0x42);
    const sig = secp256k1.Signature.fromBytes(secp256k1.sign(digest, key(5), { prehash: false, lowS: true }), 'compact');
    const der = hex(sig.toBytes('der'));
    checkCounterpartySig(der, digest, pub(5), 'the thing');
    const high = hex(new secp256k1.Signature(sig.r, secp256k1.Point.Fn.ORDER - sig.s).toBytes('der'));
    refused(() => checkCounterpartySig(high, digest, pub(5), 'the thing'), /signature on the thing has a high S \(BIP146 LOW_S\)/);
    refused(() => checkCounterpartySig(der, Buffer.alloc(32, 0x43), pub(5), 'the thing'), /signature is not on the thing/);
    refused(() => checkCounterpartySig(der, digest, pub(6), 'the thing'), /signature is not on the thing/);
    // The same r and s with a needless zero byte in front of r: valid BER, not strict DER.
    const b = Buffer.from(der, 'hex');
    const lenR = b[3]!;
    const padded = Buffer.concat([Buffer.of(0x30, b[1]! + 1, 0x02, lenR + 1, 0x00), b.subarray(4)]);
    assert.equal(isStrictDer(padded), false);
    refused(() => checkCounterpartySig(hex(padded), digest, pub(5), 'the thing'), /not strict DER \(BIP66\)/);
    // BIP66's other rules: wrong lengths, a negative r, a zero-length s, trailing bytes.
    assert.equal(isStrictDer(b), true);
    assert.equal(isStrictDer(Buffer.concat([b, Buffer.of(0)])), false);
    const negative = Buffer.from(b);
    negative[4] = negative[4]! | 0x80;
    assert.equal(isStrictDer(negative), false);
    assert.equal(isStrictDer(Buffer.of(0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x00, 0x00)), false);
    refused(() => checkCounterpartySig(hex(Buffer.of(0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x01)), digest, pub(5), 'x'), /r or s out of range/);
    assert.equal(signatureEncodingProblem(Buffer.from(der, 'hex')), undefined);
    assert.match(signatureEncodingProblem(Buffer.from(high, 'hex'))!, /high S/);
  });

  const terms: ChannelTerms = {
    funding_txid: '11'.repeat(32),
    funding_vout: 1,
    capacity_sat: 1_000_000n,
    to_self_delay: { opener: 144, accepter: 200 },
    opener: party(10),
    accepter: party(20),
  };
  const fundingOut = p2wsh(fundingScript(terms.opener.funding, terms.accepter.funding));

  it("funding: the output at the outpoint pays exactly the capacity to the 2-of-2's P2WSH, in the transaction named", () => {
    checkFundingOutput({ value: 1_000_000n, script: fundingOut }, 1_000_000n, fundingOut, 'the transaction on chain');
    refused(
      () => checkFundingOutput({ value: 999_999n, script: fundingOut }, 1_000_000n, fundingOut, 'the transaction on chain'),
      /pays 999999 sat to the funding output, not the channel's capacity of 1000000 sat/,
    );
    const other = p2wsh(fundingScript(terms.opener.funding, pub(99)));
    refused(() => checkFundingOutput({ value: 1_000_000n, script: other }, 1_000_000n, fundingOut, 'the transaction on chain'), /not the P2WSH of the 2-of-2/);
    refused(() => checkFundingOutput(undefined, 1_000_000n, fundingOut, 'the transaction on chain'), /no output at the funding outpoint/);
    const tx = new bitcoin.Transaction();
    tx.addInput(Buffer.alloc(32, 1), 0);
    tx.addOutput(Buffer.from('0014' + '00'.repeat(20), 'hex'), 5000n);
    tx.addOutput(fundingOut, 1_000_000n);
    checkFundingTx(tx.toHex(), tx.getId(), 1, 1_000_000n, fundingOut);
    refused(() => checkFundingTx(tx.toHex(), tx.getId(), 0, 1_000_000n, fundingOut), /pays 5000 sat/);
    refused(() => checkFundingTx(tx.toHex(), '22'.repeat(32), 1, 1_000_000n, fundingOut), /not the funding_txid/);
    refused(() => checkFundingTx('00', tx.getId(), 1, 1_000_000n, fundingOut), /funding_tx is not a transaction/);
  });

  it("spends: a commitment is recognised as the holder's at its point; a close, another holder's point or a foreign spend is not", () => {
    const seed = Buffer.alloc(32, 3);
    const point = perCommitmentPoint(secretFromSeed(seed, MAX_INDEX - 5n));
    const otherPoint = perCommitmentPoint(secretFromSeed(seed, MAX_INDEX - 6n));
    const s: ChannelState = { number: 5, to_opener_sat: 600_000n, to_accepter_sat: 399_596n, app_hash: 'ab'.repeat(32) };
    const ours = commitmentTx(terms, s, 'opener', point);
    assert.equal(isCommitmentOf(ours, terms, 'opener', point), true);
    assert.equal(isCommitmentOf(ours, terms, 'accepter', point), false);
    assert.equal(isCommitmentOf(ours, terms, 'opener', otherPoint), false);
    assert.equal(isCommitmentOf(commitmentTx(terms, { ...s, to_opener_sat: 0n, to_accepter_sat: 999_596n }, 'opener', point), terms, 'opener', point), true);
    assert.equal(isCommitmentOf(closingTx(terms, s), terms, 'opener', point), false);
    // The same locktime and sequence, an output to somewhere else: not a commitment of this channel.
    const foreign = ours.clone();
    foreign.outs[foreign.outs.length - 1]!.script = Buffer.from('0014' + '77'.repeat(20), 'hex');
    assert.equal(isCommitmentOf(foreign, terms, 'opener', point), false);
    // Spending another outpoint.
    const elsewhere = commitmentTx({ ...terms, funding_vout: 2 }, s, 'opener', point);
    assert.equal(isCommitmentOf(elsewhere, terms, 'opener', point), false);
  });
});

describe('state channel message fields a peer sends', () => {
  it('keys and points must be valid compressed secp256k1 points; a transaction field must be whole bytes of hex', () => {
    assert.equal(field.point({ k: pub(1) }, 'k'), pub(1));
    // 33 bytes of hex that are no point: x = p (not a field element), and an x with no y on the curve.
    assert.throws(
      () => field.point({ k: `02${'ff'.repeat(32)}` }, 'k'),
      (e: Error) => e instanceof MessageError && /k is not a valid secp256k1 public key/.test(e.message),
    );
    assert.throws(() => field.point({ k: `05${pub(1).slice(2)}` }, 'k'), MessageError);
    assert.throws(() => field.point({ k: pub(1).slice(0, 64) }, 'k'), /33 bytes/);
    assert.equal(field.bytes({ t: 'abcd' }, 't', 10), 'abcd');
    assert.throws(() => field.bytes({ t: 'abc' }, 't', 10), /lowercase hex of 1 to 10 bytes/);
    assert.throws(() => field.bytes({ t: 'ab'.repeat(11) }, 't', 10), MessageError);
    assert.throws(() => field.bytes({ t: 'AB' }, 't', 10), MessageError);
  });
});
