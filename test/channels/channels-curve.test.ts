// The channel room's curve backends (src/adapters/channels/curve.ts): libsecp256k1 (tiny-secp256k1's wasm) must
// answer exactly what @noble/curves answers for every operation a channel update makes, on random inputs, and
// refuse the same signatures (a high S, another digest, another key, malformed DER).

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { channelCurve, derToCompact, nobleChannelCurve } from '../../src/adapters/channels/curve.js';
import { derivePubkey, revocationPubkey } from '../../src/adapters/channels/keys.js';
import { p2wpkh, toLocalOf, toLocalScript, type ChannelTerms } from '../../src/adapters/channels/transactions.js';

const N = secp256k1.Point.Fn.ORDER;
const scalar = (): bigint => (BigInt(`0x${randomBytes(32).toString('hex')}`) % (N - 1n)) + 1n;
const secret = (): Uint8Array => Buffer.from(scalar().toString(16).padStart(64, '0'), 'hex');
const h = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('channel curve backends', () => {
  const wasm = channelCurve();

  it('loads libsecp256k1 here (tiny-secp256k1 is a dependency)', () => {
    assert.match(wasm.name, /libsecp256k1/);
  });

  it('answers the same points as @noble for per-commitment points, tweaks and revocation keys', () => {
    for (let i = 0; i < 40; i++) {
      const s = secret();
      const P = nobleChannelCurve.pubFromSecret(s);
      assert.equal(h(wasm.pubFromSecret(s)), h(P));
      const Q = nobleChannelCurve.pubFromSecret(secret());
      const [a, b] = [scalar(), scalar()];
      assert.equal(h(wasm.addTweak(P, a)), h(nobleChannelCurve.addTweak(P, a)));
      assert.equal(h(wasm.lin(a, P, b, Q)), h(nobleChannelCurve.lin(a, P, b, Q)));
      assert.equal(wasm.isPoint(P), true);
    }
  });

  it('verifies what @noble verifies and refuses what it refuses', () => {
    for (let i = 0; i < 20; i++) {
      const key = secret();
      const pub = secp256k1.getPublicKey(key, true);
      const digest = randomBytes(32);
      const der = secp256k1.sign(digest, key, { prehash: false, format: 'der' });
      const low = derToCompact(der)!;
      assert.ok(low);
      assert.equal(wasm.verifyDer(der, digest, pub), true);
      assert.equal(nobleChannelCurve.verifyDer(der, digest, pub), true);
      // Another digest, another key.
      const other = randomBytes(32);
      assert.equal(wasm.verifyDer(der, other, pub), false);
      assert.equal(wasm.verifyDer(der, digest, secp256k1.getPublicKey(secret(), true)), false);
      // The same signature with a high S (n - s): valid ECDSA, refused by both (BIP146).
      const sig = secp256k1.Signature.fromBytes(der, 'der');
      const high = new secp256k1.Signature(sig.r, N - sig.s).toBytes('der');
      assert.equal(nobleChannelCurve.verifyDer(high, digest, pub), false);
      assert.equal(wasm.verifyDer(high, digest, pub), false);
    }
  });

  it('refuses malformed DER and off-curve points without throwing', () => {
    const digest = randomBytes(32);
    const pub = secp256k1.getPublicKey(secret(), true);
    for (const bad of [Buffer.alloc(0), Buffer.from('3006020100020100', 'hex'), Buffer.from('30060201ff020101', 'hex'), randomBytes(70)]) {
      assert.equal(derToCompact(bad), null);
      assert.equal(wasm.verifyDer(bad, digest, pub), false);
    }
    const off = Buffer.concat([Buffer.of(2), Buffer.alloc(32, 0xff)]);
    assert.equal(wasm.isPoint(off), nobleChannelCurve.isPoint(off));
    assert.equal(wasm.isPoint(Buffer.concat([Buffer.of(6), Buffer.alloc(64, 1)])), false);
  });
});

describe('cached commitment scripts', () => {
  const pub = (): string => h(nobleChannelCurve.pubFromSecret(secret()));
  const party = (): ChannelTerms['opener'] => ({ funding: pub(), revocation_basepoint: pub(), payment_basepoint: pub(), delayed_payment_basepoint: pub() });
  const terms: ChannelTerms = {
    funding_txid: '11'.repeat(32),
    funding_vout: 0,
    capacity_sat: 1_000_000n,
    to_self_delay: { opener: 144, accepter: 200 },
    opener: party(),
    accepter: party(),
  };

  it('answers the script a fresh derivation gives, for each holder, point and delay, and copies that callers cannot change', () => {
    const point = nobleChannelCurve.pubFromSecret(secret());
    const fresh = (holder: 'opener' | 'accepter', t: ChannelTerms): string => {
      const theirs = holder === 'opener' ? t.accepter : t.opener;
      return h(
        toLocalScript(
          revocationPubkey(Buffer.from(theirs.revocation_basepoint, 'hex'), point),
          t.to_self_delay[holder],
          derivePubkey(Buffer.from(t[holder].delayed_payment_basepoint, 'hex'), point),
        ),
      );
    };
    for (const holder of ['opener', 'accepter'] as const) {
      const first = toLocalOf(terms, holder, point);
      assert.equal(h(first), fresh(holder, terms));
      first.fill(0);
      assert.equal(h(toLocalOf(terms, holder, point)), fresh(holder, terms));
    }
    // Another delay or another point: another script, never the cached one.
    const later: ChannelTerms = { ...terms, to_self_delay: { opener: 145, accepter: 200 } };
    assert.equal(h(toLocalOf(later, 'opener', point)), fresh('opener', later));
    assert.notEqual(h(toLocalOf(later, 'opener', point)), h(toLocalOf(terms, 'opener', point)));
    const other = nobleChannelCurve.pubFromSecret(secret());
    assert.notEqual(h(toLocalOf(terms, 'opener', other)), h(toLocalOf(terms, 'opener', point)));
    const w = p2wpkh(terms.opener.payment_basepoint);
    w.fill(0);
    assert.match(h(p2wpkh(terms.opener.payment_basepoint)), /^0014[0-9a-f]{40}$/);
    assert.notEqual(h(p2wpkh(terms.opener.payment_basepoint)), '00'.repeat(22));
  });
});
