// BOLT 3's test vectors for what the state channels room builds on: per-commitment secret generation (Appendix D,
// generation tests), the receiver's compact secret storage (Appendix D, storage tests: every incorrect sequence is
// refused at the vector's step, and correct secrets are derived back), and key derivation (Appendix E).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { derivePrivkey, derivePubkey, perCommitmentPoint, revocationPrivkey, revocationPubkey } from '../../src/adapters/channels/keys.js';
import { SecretStore, secretFromSeed, ShachainError } from '../../src/adapters/channels/shachain.js';

const b = (h: string): Buffer => Buffer.from(h.replace(/^0x/, ''), 'hex');
const hex = (x: Uint8Array): string => Buffer.from(x).toString('hex');

const FF = 'ff'.repeat(32);
const CORRECT = [
  '7cc854b54e3e0dcdb010d7a3fee464a9687be6e8db3be6854c475621e007a5dc',
  'c7518c8ae4660ed02894df8976fa1a3659c1a8b4b5bec0c4b872abeba4cb8964',
  '2273e227a5b7449b6e70f1fb4652864038b1cbf9cd7c043a7d6456b7fc275ad8',
  '27cddaa5624534cb6cb9d7da077cf2b22ab21e9b506fd4998a51d54502e99116',
  'c65716add7aa98ba7acb236352d665cab17345fe45b55fb879ff80e6bd0c41dd',
  '969660042a28f32d9be17344e09374b379962d03db1574df5a8a5a47e19ce3f2',
  'a5a64476122ca0925fb344bdc1854c1c0a59fc614298e50a33e331980a220f32',
  '05cde6323d949933f7f7b78776bcc1ea6d9b31447732e3802e1f7ac44b650e17',
];
/** Storage tests: the secrets inserted from index 2^48-1 down, each step's substitutions, and the step that must fail. */
const INCORRECT: Array<{ name: string; replace: Record<number, string>; failsAt: number }> = [
  { name: '#1 incorrect', replace: { 0: '02a40c85b6f28da08dfdbe0926c53fab2de6d28c10301f8f7c4073d5e42e3148' }, failsAt: 1 },
  {
    name: '#2 incorrect (#1 derived from incorrect)',
    replace: { 0: '02a40c85b6f28da08dfdbe0926c53fab2de6d28c10301f8f7c4073d5e42e3148', 1: 'dddc3a8d14fddf2b68fa8c7fbad2748274937479dd0f8930d5ebb4ab6bd866a3' },
    failsAt: 3,
  },
  { name: '#3 incorrect', replace: { 2: 'c51a18b13e8527e579ec56365482c62f180b7d5760b46e9477dae59e87ed423a' }, failsAt: 3 },
  {
    name: '#4 incorrect (1,2,3 derived from incorrect)',
    replace: {
      0: '02a40c85b6f28da08dfdbe0926c53fab2de6d28c10301f8f7c4073d5e42e3148',
      1: 'dddc3a8d14fddf2b68fa8c7fbad2748274937479dd0f8930d5ebb4ab6bd866a3',
      2: 'c51a18b13e8527e579ec56365482c62f180b7d5760b46e9477dae59e87ed423a',
      3: 'ba65d7b0ef55a3ba300d4e87af29868f394f8f138d78a7011669c79b37b936f4',
    },
    failsAt: 7,
  },
  { name: '#5 incorrect', replace: { 4: '631373ad5f9ef654bb3dade742d09504c567edd24320d2fcd68e3cc47e2ff6a6' }, failsAt: 5 },
  {
    name: '#6 incorrect (5 derived from incorrect)',
    replace: { 4: '631373ad5f9ef654bb3dade742d09504c567edd24320d2fcd68e3cc47e2ff6a6', 5: 'b7e76a83668bde38b373970155c868a653304308f9896692f904a23731224bb1' },
    failsAt: 7,
  },
  { name: '#7 incorrect', replace: { 6: 'e7971de736e01da8ed58b94c2fc216cb1dca9e326f3a96e7194fe8ea8af6c0a3' }, failsAt: 7 },
  { name: '#8 incorrect', replace: { 7: 'a7efbc61aac46d34f77778bac22c8a20c6a46ca460addc49009bda875ec88fa4' }, failsAt: 7 },
];
const TOP = (1n << 48n) - 1n;

describe('BOLT 3 per-commitment secrets and key derivation (Appendices D and E)', () => {
  it('generates the secrets of the generation vectors', () => {
    assert.equal(hex(secretFromSeed(b('00'.repeat(32)), 281474976710655n)), '02a40c85b6f28da08dfdbe0926c53fab2de6d28c10301f8f7c4073d5e42e3148');
    assert.equal(hex(secretFromSeed(b(FF), 281474976710655n)), '7cc854b54e3e0dcdb010d7a3fee464a9687be6e8db3be6854c475621e007a5dc');
    assert.equal(hex(secretFromSeed(b(FF), 0xaaaaaaaaaaan)), '56f4008fb007ca9acf0e15b054d5c9fd12ee06cea347914ddbaed70d1c13a528');
    assert.equal(hex(secretFromSeed(b(FF), 0x555555555555n)), '9015daaeb06dba4ccc05b91b2f73bd54405f2be9f217fbacd3c5ac2e62327d31');
    assert.equal(hex(secretFromSeed(b('01'.repeat(32)), 1n)), '915c75942a26bb3a433a8ce2cb0427c29ec6c1775cfc78328b57f6ba7bfeaa9c');
  });

  it('stores the correct sequence, derives every secret back, and survives a save and load', () => {
    const store = new SecretStore();
    CORRECT.forEach((s, i) => store.insert(b(s), TOP - BigInt(i)));
    const loaded = new SecretStore(store.save());
    CORRECT.forEach((s, i) => assert.equal(hex(loaded.get(TOP - BigInt(i))!), s, `secret ${i}`));
    // the generation matches what is stored
    CORRECT.forEach((s, i) => assert.equal(hex(secretFromSeed(b(FF), TOP - BigInt(i))), s));
    assert.equal(loaded.get(TOP - 100n), undefined, 'not revealed');
    // a thousand states in at most 49 entries
    const many = new SecretStore();
    const seed = b('42'.repeat(32));
    for (let i = 0n; i < 1000n; i++) many.insert(secretFromSeed(seed, TOP - i), TOP - i);
    assert.ok(many.save().filter(Boolean).length <= 49);
    assert.equal(hex(many.get(TOP - 617n)!), hex(secretFromSeed(seed, TOP - 617n)));
  });

  for (const v of INCORRECT)
    it(`refuses the storage vector ${v.name} at its step`, () => {
      const store = new SecretStore();
      for (let i = 0; i <= v.failsAt; i++) {
        const secret = b(v.replace[i] ?? CORRECT[i]!);
        if (i < v.failsAt) store.insert(secret, TOP - BigInt(i));
        else
          assert.throws(
            () => store.insert(secret, TOP - BigInt(i)),
            (e: Error) => e instanceof ShachainError && /does not derive/.test(e.message),
          );
      }
    });

  it('derives the keys of Appendix E', () => {
    const baseSecret = b('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
    const perCommitmentSecret = b('1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100');
    const basePoint = b('036d6caac248af96f6afa7f904f550253a0f3ef3f5aa2fe6838a95b216691468e2');
    const pcp = perCommitmentPoint(perCommitmentSecret);
    assert.equal(hex(pcp), '025f7117a78150fe2ef97db7cfc83bd57b2e2c0d0dd25eaf467a4a1c2a45ce1486');
    assert.equal(hex(derivePubkey(basePoint, pcp)), '0235f2dbfaa89b57ec7b055afe29849ef7ddfeb1cefdb9ebdc43f5494984db29e5');
    assert.equal(hex(derivePrivkey(baseSecret, pcp)), 'cbced912d3b21bf196a766651e436aff192362621ce317704ea2f75d87e7be0f');
    assert.equal(hex(revocationPubkey(basePoint, pcp)), '02916e326636d19c33f13e8c0c3a03dd157f332f3e99c317c141dd865eb01f8ff0');
    assert.equal(hex(revocationPrivkey(baseSecret, perCommitmentSecret)), 'd09ffff62ddb2297ab000cc85bcb4283fdeb6aa052affbc9dddcf33b61078110');
  });
});
