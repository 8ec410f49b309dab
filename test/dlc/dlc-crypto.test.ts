// The DLC room's cryptography against the dlcspecs: ECDSA adaptor signatures (ECDSA-adaptor.md and every vector of
// test/ecdsa_adaptor.json, the ones that must fail included), and oracle announcements and attestations (Oracle.md):
// the announcement inside the spec's enum_single_oracle test vector verifies, and attestations made here by an
// oracle key (BIP340 with the announced nonces, in both hash forms) are accepted only for their own event, nonces,
// oracle and outcomes.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { adaptorDecrypt, adaptorRecover, adaptorSign, adaptorVerify } from '../../src/core/ecdsa-adaptor.js';
import { decodeAttestation, OracleError, verifyAnnouncement, verifyAttestation, type OracleAnnouncement } from '../../src/adapters/dlc/oracle.js';
import { digitDescriptor, enumDescriptor, makeOracle, signWithNonce as oracleSign } from '../peers/dlc-oracle.js';
import { ROOT } from '../helpers/daemon.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const bytes = (h: string): Buffer => Buffer.from(h, 'hex');

interface Vector {
  kind: 'verification' | 'recovery';
  adaptor_sig: string;
  message_hash?: string;
  public_signing_key?: string;
  encryption_key: string;
  decryption_key: string | null;
  signature: string;
  error?: string;
}

describe('ECDSA adaptor signatures (dlcspecs ECDSA-adaptor.md)', () => {
  const { vectors } = JSON.parse(readFileSync(join(ROOT, 'test/vectors/ecdsa_adaptor.json'), 'utf8')) as { vectors: Vector[] };

  it('passes every spec vector, and fails the ones marked to fail', () => {
    assert.equal(vectors.length, 5);
    for (const v of vectors) {
      const sig = bytes(v.adaptor_sig);
      if (v.kind === 'verification') {
        const ok = adaptorVerify(bytes(v.public_signing_key!), bytes(v.encryption_key), bytes(v.message_hash!), sig);
        assert.equal(ok, v.error === undefined, `${v.error ?? 'valid'}: verify`);
        if (v.error) continue;
        assert.equal(hex(adaptorDecrypt(sig, bytes(v.decryption_key!))), v.signature, 'decrypt');
        assert.equal(hex(adaptorRecover(bytes(v.encryption_key), sig, bytes(v.signature))), v.decryption_key, 'recover');
      } else if (v.error) {
        assert.throws(() => adaptorRecover(bytes(v.encryption_key), sig, bytes(v.signature)), /R value of the signature does not match/);
      } else {
        assert.equal(hex(adaptorRecover(bytes(v.encryption_key), sig, bytes(v.signature))), v.decryption_key);
      }
    }
  });

  it('signs, verifies, decrypts to a valid low-s ECDSA signature and recovers the key; a wrong message, key or encryption key fails', () => {
    for (let i = 0; i < 20; i++) {
      const x = secp256k1.utils.randomSecretKey();
      const X = secp256k1.getPublicKey(x, true);
      const y = secp256k1.utils.randomSecretKey();
      const Y = secp256k1.getPublicKey(y, true);
      const m = randomBytes(32);
      const a = adaptorSign(x, Y, m);
      assert.equal(a.length, 162);
      assert.ok(adaptorVerify(X, Y, m, a));
      assert.equal(adaptorVerify(X, Y, randomBytes(32), a), false, 'another message');
      assert.equal(adaptorVerify(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true), Y, m, a), false, 'another signer');
      assert.equal(adaptorVerify(X, secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true), m, a), false, 'another encryption key');
      const sig = adaptorDecrypt(a, y);
      assert.ok(secp256k1.verify(sig, m, X, { prehash: false, lowS: true }), 'a valid low-s ECDSA signature');
      assert.equal(hex(adaptorRecover(Y, a, sig)), hex(y));
      const flipped = Buffer.from(a);
      flipped[100] ^= 1;
      assert.equal(adaptorVerify(X, Y, m, flipped), false, 'a changed proof');
    }
  });
});

// The announcement carried in dlcspecs test/test_vectors/enum_single_oracle_test.json (its offer's serialization).
const VECTOR_ANNOUNCEMENT =
  'fdd8249d288a4ac72f3f627ceecf61753f94c437f9e761950ce1dd4ad787cdf6f525ce11b6cea81689ad41511d4366db5fb591b40864f59c4e9e0cf2c7dac89224d98c553d563caec479d618bad3cb0e844f57dcd977f23e5d6d84e1e3be51bb33133cb0fdd8223900015c1785f8ab4273d56ac67d4b0429c40107cec5875246a2b68872792c2096e3a760bf0bb0fdd8060a000401610162016301640454657374';

describe('oracle announcements and attestations (dlcspecs Oracle.md)', () => {
  it("verifies the spec vector's announcement, and refuses it changed or cut", () => {
    const a = verifyAnnouncement(bytes(VECTOR_ANNOUNCEMENT));
    assert.equal(a.oracle_public_key, '3d563caec479d618bad3cb0e844f57dcd977f23e5d6d84e1e3be51bb33133cb0');
    assert.deepEqual(a.event, {
      nonces: ['5c1785f8ab4273d56ac67d4b0429c40107cec5875246a2b68872792c2096e3a7'],
      maturity_epoch: 1623133104,
      descriptor: { kind: 'enum', outcomes: ['a', 'b', 'c', 'd'] },
      event_id: 'Test',
    });
    assert.equal(a.signing, 'sha256');
    const changed = bytes(VECTOR_ANNOUNCEMENT);
    changed[changed.length - 1] ^= 1; // the event id
    assert.throws(() => verifyAnnouncement(changed), /the announcement signature is not the oracle's/);
    assert.throws(
      () => verifyAnnouncement(bytes(VECTOR_ANNOUNCEMENT).subarray(0, 120)),
      (e: Error) => e instanceof OracleError && /runs past the end/.test(e.message),
    );
  });

  it('accepts an enumerated attestation of its event in either hash form, and names what is wrong otherwise', () => {
    for (const form of ['tagged', 'sha256'] as const) {
      const o = makeOracle(enumDescriptor(['up', 'down', 'flat']), 1, 'btc-2026-12-01', form);
      const ann: OracleAnnouncement = verifyAnnouncement(o.ann);
      assert.equal(ann.signing, form);
      assert.deepEqual(verifyAttestation(ann, decodeAttestation(o.attest(['down']))), { kind: 'enum', outcome: 'down' });
      assert.throws(() => verifyAttestation(ann, decodeAttestation(o.attest(['sideways']))), /outcome "sideways" is not one of the event's/);
      assert.throws(() => verifyAttestation(ann, decodeAttestation(o.attest(['up'], { id: 'another' }))), /for event "another"/);
      const other = makeOracle(enumDescriptor(['up', 'down', 'flat']), 1, 'btc-2026-12-01', form);
      assert.throws(() => verifyAttestation(ann, decodeAttestation(other.attest(['up']))), /the attestation is by oracle/);
      // a signature with the right oracle key over the right outcome, but made with another nonce than announced
      const forged = decodeAttestation(o.attest(['up']));
      forged.signatures[0] = hex(oracleSign(randomBytes(32), secp256k1.utils.randomSecretKey(), sha256(new TextEncoder().encode('up'))));
      assert.throws(() => verifyAttestation(ann, forged), /does not use the announced nonce|is not the oracle's/);
    }
  });

  it('reads a signed digit-decomposition attestation as its value; a digit outside the base or a swapped nonce is refused', () => {
    const o = makeOracle(digitDescriptor(10, true, 5), 6, 'btcusd', 'tagged');
    const ann = verifyAnnouncement(o.ann);
    assert.deepEqual(verifyAttestation(ann, decodeAttestation(o.attest(['-', '0', '4', '2', '1', '7']))), {
      kind: 'digits',
      digits: [0, 4, 2, 1, 7],
      value: -4217,
      unit: 'btc/usd',
      precision: 0,
    });
    assert.throws(() => verifyAttestation(ann, decodeAttestation(o.attest(['+', '0', '4', '2', '1', '10']))), /digit 5 is "10", not a base-10 digit/);
    assert.throws(
      () => verifyAttestation(ann, decodeAttestation(o.attest(['+', '0', '4', '2', '1', '7'], { nonceOf: [0, 2, 1, 3, 4, 5] }))),
      /does not use the announced nonce 2/,
    );
    // an announcement whose nonces do not match its descriptor
    const short = makeOracle(digitDescriptor(2, false, 20), 19, 'short', 'tagged');
    assert.throws(() => verifyAnnouncement(short.ann), /the event has 19 nonce\(s\); its descriptor needs 20/);
  });
});
