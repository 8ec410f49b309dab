// The channel room's curve backends (src/adapters/channels/curve.ts): libsecp256k1 (tiny-secp256k1's wasm) must
// answer exactly what @noble/curves answers for every operation a channel update makes, on random inputs, and
// refuse the same signatures (a high S, another digest, another key, malformed DER).

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { channelCurve, derToCompact, nobleChannelCurve } from '../../src/adapters/channels/curve.js';

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
