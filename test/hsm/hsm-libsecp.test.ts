// The HSM's software signer signs ECDSA on libsecp256k1 (wasm) where it loads: the same RFC 6979 bytes @noble gives
// for the same key and digest (so nothing signed before changes), and verifySignature answers alike on both
// libraries: a valid low-S signature accepted, its high-S twin and a changed one refused.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { libsecp256k1 } from '../../src/core/libsecp256k1.js';
import { derToCompact, rawToLowSDer, verifySignature } from '../../src/hsm/ecdsa.js';

describe('HSM ECDSA on libsecp256k1', () => {
  it('loads (tiny-secp256k1 is a dependency: a missing one is a failure, not a skip)', () => {
    assert.ok(libsecp256k1());
  });

  it('signs byte for byte as @noble does, and verifySignature accepts low S only', () => {
    const lib = libsecp256k1()!;
    const N = secp256k1.Point.Fn.ORDER;
    for (let i = 0; i < 60; i++) {
      const priv = secp256k1.utils.randomSecretKey();
      const pub = Buffer.from(secp256k1.getPublicKey(priv, i % 2 === 0)).toString('hex');
      const digest = randomBytes(32);
      const ours = lib.sign(digest, priv);
      assert.equal(Buffer.from(ours).toString('hex'), Buffer.from(secp256k1.sign(digest, priv, { prehash: false, lowS: true })).toString('hex'));
      const der = rawToLowSDer(ours, 'secp256k1');
      assert.equal(verifySignature('secp256k1', 'ecdsa', pub, digest, der), true);
      // The same signature with S replaced by n - S (as valid in ECDSA, refused by BIP146's low-S rule).
      const c = derToCompact(der);
      const s = BigInt(`0x${Buffer.from(c.subarray(32)).toString('hex')}`);
      const high = Buffer.concat([c.subarray(0, 32), Buffer.from((N - s).toString(16).padStart(64, '0'), 'hex')]);
      assert.equal(secp256k1.verify(high, digest, Buffer.from(pub, 'hex'), { prehash: false, lowS: false }), true, 'the twin is a valid signature');
      const highDer = Buffer.from(secp256k1.Signature.fromBytes(high, 'compact').toBytes('der'));
      assert.equal(verifySignature('secp256k1', 'ecdsa', pub, digest, highDer), false, 'high S refused');
      const changed = Buffer.from(digest);
      changed[i % 32]! ^= 1;
      assert.equal(verifySignature('secp256k1', 'ecdsa', pub, changed, der), false, 'another digest refused');
    }
  });
});
