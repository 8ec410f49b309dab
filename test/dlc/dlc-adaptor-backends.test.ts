// The two curve backends of the ECDSA adaptor signatures (src/core/ecdsa-adaptor-curve.ts) agree byte for byte:
// libsecp256k1 in wasm (tiny-secp256k1) and the @noble/curves fallback make the same signature from the same key,
// inputs and nonce randomness, accept and refuse the same signatures (the dlcspecs vectors, each other's, changed
// ones), and the backend in use is libsecp256k1 where it loads.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { adaptorSignWith, adaptorVerifyWith, type NonceSource } from '../../src/core/ecdsa-adaptor.js';
import { curve, libsecpCurve, nobleCurve } from '../../src/core/ecdsa-adaptor-curve.js';
import { ROOT } from '../helpers/daemon.js';

const bytes = (h: string): Buffer => Buffer.from(h, 'hex');

/** The same "random" 32-byte strings for both backends: a hash chain from a seed. */
function seeded(seed: Uint8Array): NonceSource {
  let state = Buffer.from(seed);
  return () => (state = createHash('sha256').update(state).digest());
}

describe('ECDSA adaptor signatures: libsecp256k1 (wasm) and @noble agree', () => {
  const lib = libsecpCurve();
  // tiny-secp256k1 is in this project's node_modules: a missing backend is a failure here, not a skip.
  it('loads libsecp256k1 and uses it', () => {
    assert.ok(lib, 'the libsecp256k1 backend did not load');
    assert.equal(curve().name, lib.name);
  });

  it('signs byte-identically on random keys, points and digests, and each verifies the other', () => {
    for (let i = 0; i < 40; i++) {
      const x = secp256k1.utils.randomSecretKey();
      const X = secp256k1.getPublicKey(x, i % 2 === 0); // compressed and uncompressed public keys
      const Y = secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true);
      const m = randomBytes(32);
      const seed = randomBytes(32);
      const a = adaptorSignWith(lib!, x, Y, m, seeded(seed));
      const b = adaptorSignWith(nobleCurve, x, Y, m, seeded(seed));
      assert.equal(Buffer.from(a).toString('hex'), Buffer.from(b).toString('hex'));
      assert.ok(adaptorVerifyWith(lib!, X, Y, m, b));
      assert.ok(adaptorVerifyWith(nobleCurve, X, Y, m, a));
      // Changed anywhere (R, R_a, s_a, the proof), both refuse it alike.
      for (const at of [5, 40, 70, 100, 140]) {
        const bad = Buffer.from(a);
        bad[at] ^= 1 << (i % 8);
        assert.equal(adaptorVerifyWith(lib!, X, Y, m, bad), adaptorVerifyWith(nobleCurve, X, Y, m, bad), `byte ${at} changed`);
      }
    }
  });

  it('computes a*G + b*B (one recovery), a*A + b*B and the blinded k*P exactly as @noble does, edge scalars included', () => {
    const N = secp256k1.Point.Fn.ORDER;
    const hex = (u: Uint8Array | null): string | null => (u === null ? null : Buffer.from(u).toString('hex'));
    const rand = (): bigint => secp256k1.Point.Fn.fromBytes(secp256k1.utils.randomSecretKey());
    for (let i = 0; i < 30; i++) {
      const Bb = secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true);
      const Ab = secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true);
      const [lB, nB, lA, nA] = [lib!.parse(Bb)!, nobleCurve.parse(Bb)!, lib!.parse(Ab)!, nobleCurve.parse(Ab)!];
      const scalars = [rand(), rand(), 1n, N - 1n, 0n];
      const a = scalars[i % scalars.length]!;
      const b = scalars[(i + 2) % scalars.length]!;
      assert.equal(hex(lib!.lin(a, null, b, lB)), hex(nobleCurve.lin(a, null, b, nB)), `a*G + b*B, case ${i}`);
      assert.equal(hex(lib!.lin(a, lA, b, lB)), hex(nobleCurve.lin(a, nA, b, nB)), `a*A + b*B, case ${i}`);
      if (a !== 0n && b !== 0n) assert.deepEqual(lib!.mulSecret(lB, [a, b]).map(hex), nobleCurve.mulSecret(nB, [a, b]).map(hex), `k*P, case ${i}`);
    }
    // At infinity: a*G + b*(c*G) with a = -b*c.
    const c = rand();
    const C = lib!.parse(secp256k1.Point.BASE.multiply(c).toBytes(true))!;
    assert.equal(lib!.lin((N - c) % N, null, 1n, C), null);
  });

  it('answers the dlcspecs vectors alike, and refuses the same malformed inputs', () => {
    const { vectors } = JSON.parse(readFileSync(join(ROOT, 'test/vectors/ecdsa_adaptor.json'), 'utf8')) as {
      vectors: Array<{ kind: string; adaptor_sig: string; message_hash?: string; public_signing_key?: string; encryption_key: string; error?: string }>;
    };
    for (const v of vectors.filter((w) => w.kind === 'verification')) {
      const args = [bytes(v.public_signing_key!), bytes(v.encryption_key), bytes(v.message_hash!), bytes(v.adaptor_sig)] as const;
      assert.equal(adaptorVerifyWith(lib!, ...args), v.error === undefined, v.error ?? 'valid');
      assert.equal(adaptorVerifyWith(nobleCurve, ...args), v.error === undefined, v.error ?? 'valid');
    }
    const x = secp256k1.utils.randomSecretKey();
    const X = secp256k1.getPublicKey(x, true);
    const Y = secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true);
    const m = randomBytes(32);
    const sig = adaptorSignWith(lib!, x, Y, m);
    const hybrid = Buffer.from(secp256k1.getPublicKey(x, false));
    hybrid[0] = 6 | (hybrid[64]! & 1); // a hybrid encoding: libsecp256k1 parses it, @noble does not, neither may here
    const offCurve = Buffer.from(X); // an x with no point on the curve (about every other x is one)
    while (nobleCurve.parse(offCurve) !== null) offCurve[32] = (offCurve[32]! + 1) & 0xff;
    for (const pub of [hybrid, offCurve, X.subarray(0, 32), Buffer.alloc(33)]) {
      assert.equal(adaptorVerifyWith(lib!, pub, Y, m, sig), adaptorVerifyWith(nobleCurve, pub, Y, m, sig));
    }
    // A proof of zeros (b = c = 0: both commitments at infinity) is refused by both.
    const zeros = Buffer.from(sig);
    zeros.fill(0, 98);
    assert.equal(adaptorVerifyWith(lib!, X, Y, m, zeros), false);
    assert.equal(adaptorVerifyWith(nobleCurve, X, Y, m, zeros), false);
    for (const c of [lib!, nobleCurve]) assert.throws(() => adaptorSignWith(c as typeof nobleCurve, x, offCurve, m), /the encryption key is not a point/);
  });
});
