// Issue 26 item 6 ("offer of death"): a contract's ECDSA adaptor signatures (HsmApi.adaptorSignAll, ~15 ms each on
// the keystore) are made in a worker thread, so while a thousand of them are made every RPC on every connection is
// still answered. The daemon runs in this process (its event loop is this test's), with the real HSM room on a
// software keystore; the room's API is taken from its create() as another room would use it. The order of events
// is asserted, not a timing threshold: the call's audit entry is durable (so the signing has begun), then `uptime`
// on a socket connection is answered, and only then does the call finish. On the main thread, neither hsm.audit
// nor uptime could have been answered before the last signature.

import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { adaptorDecrypt, adaptorSign, adaptorVerify } from '../../src/core/ecdsa-adaptor.js';
import type { Room } from '../../src/core/room.js';
import type { Daemon } from '../../src/daemon/daemon.js';
import { hsmRoom } from '../../src/hsm/room.js';
import type { ContractSigning, HsmApi } from '../../src/hsm/api.js';
import type { SoftwareProvider } from '../../src/hsm/software.js';
import { call, unixChannel, type Channel } from '../helpers/channel.js';
import { ROOT, tempDir } from '../helpers/daemon.js';
import { startInProcess } from '../helpers/inproc.js';

interface Entry {
  seq: number;
  event: string;
  key: string | null;
  detail: Record<string, unknown>;
}

/** The HSM room as is, its API kept for the test (the DLC room would get the same object). */
function hsmWithApi(got: (api: HsmApi) => void): Room {
  return {
    ...hsmRoom,
    create: async (ctx) => {
      const parts = await hsmRoom.create(ctx);
      got(parts.api as HsmApi);
      return parts;
    },
  };
}

describe('HSM: adaptor signatures off the event loop (issue 26 item 6)', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let daemon: Daemon;
  let api!: HsmApi;
  let ch: Channel;
  let other: Channel;

  before(async () => {
    dir = await tempDir();
    const pass = join(dir.path, 'pass');
    await writeFile(pass, 'the keystore passphrase\n', { mode: 0o600 });
    const datadir = join(dir.path, 'd');
    const args = ['-hsm.provider=software', '-hsm.kdfcost=12', '-hsm.policydelay=0', `-hsm.passphrasefile=${pass}`];
    daemon = await startInProcess(datadir, [hsmWithApi((a) => (api = a))], args).started;
    ch = await unixChannel(join(datadir, 'regtest', 'anya.sock'));
    other = await unixChannel(join(datadir, 'regtest', 'anya.sock'));
  });
  after(async () => {
    ch?.close();
    other?.close();
    await daemon?.stop('test');
    await daemon?.done;
    await dir?.remove();
  });

  const audit = async (): Promise<Entry[]> => call<Entry[]>(ch, 'hsm.audit', { limit: 1000 });

  it('a thousand CET signatures: uptime on another connection is answered before the call ends; each signature is valid', async () => {
    const key = await api.generateKey('dlc offer-of-death', null, 'dlc');
    const n = 1000;
    // Encryption points whose discrete logs the test knows, so each signature can also be decrypted and checked.
    const ys = Array.from({ length: n }, () => secp256k1.utils.randomSecretKey());
    const items = ys.map((y, i) => ({ point: Buffer.from(secp256k1.getPublicKey(y, true)), digest: Buffer.alloc(32, i % 251) }));
    const contract: ContractSigning = {
      kind: 'dlc',
      contract: 'c1',
      counterparty: Buffer.from(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true)).toString('hex'),
      purpose: 'cet',
      spends_sat: 1000,
    };
    const before = (await audit()).length;

    let finished = false;
    const signing = api.adaptorSignAll(key.id, items, 'test', contract).then((sigs) => ((finished = true), sigs));
    // Its entry is durable before the signatures are made: once hsm.audit shows it, the signing is under way.
    let entry: Entry | undefined;
    while (!entry) entry = (await audit()).slice(before).find((e) => e.event === 'sign' && e.key === key.id);
    const up = await call<number>(other, 'uptime');
    assert.equal(typeof up, 'number');
    assert.equal(finished, false, 'uptime was answered while the adaptor signatures were being made');
    const sigs = await signing;

    // One entry and one policy pass for the call, naming the count and the contract (as before).
    assert.equal(entry.detail.scheme, 'ecdsa-adaptor');
    assert.equal(entry.detail.count, n);
    assert.equal(entry.detail.contract, 'c1');
    const after = (await audit()).slice(before);
    assert.deepEqual(
      after.map((e) => e.event),
      ['sign'],
    );

    // What the main-thread implementation makes: a 162-byte adaptor signature that verifies under the key, the point
    // and the digest, and decrypts with the point's discrete log to an ECDSA signature of the digest. (Its nonces
    // are drawn with fresh randomness, as dlcspecs recommends, so no two runs are byte-equal: compared by property.)
    const pub = Buffer.from(key.public_key, 'hex');
    assert.equal(sigs.length, n);
    const reference = adaptorSign(secp256k1.utils.randomSecretKey(), items[0]!.point, items[0]!.digest);
    sigs.forEach((sig, i) => {
      assert.equal(sig.length, reference.length);
      assert.ok(adaptorVerify(pub, items[i]!.point, items[i]!.digest, sig), `signature ${i} verifies`);
    });
    for (const i of [0, 499, n - 1]) {
      const ecdsa = adaptorDecrypt(sigs[i]!, ys[i]!);
      assert.ok(secp256k1.verify(ecdsa, items[i]!.digest, pub, { prehash: false }), `signature ${i} decrypts to an ECDSA signature`);
    }
  });

  it('a point off the curve is refused, and the next call signs in a fresh or the same worker', async () => {
    const key = await api.generateKey('dlc bad point', null, 'dlc');
    const good = { point: Buffer.from(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true)), digest: Buffer.alloc(32, 1) };
    // x = 2^256 - 1 is past the field's prime: no point has it.
    const bad = { point: Buffer.concat([Buffer.from([2]), Buffer.alloc(32, 0xff)]), digest: Buffer.alloc(32, 2) };
    await assert.rejects(api.adaptorSignAll(key.id, [good, bad], 'test'), /not a point of secp256k1/);
    const entries = await audit();
    assert.deepEqual(
      entries.slice(-2).map((e) => e.event),
      ['sign', 'sign_failed'],
    );
    const [sig] = await api.adaptorSignAll(key.id, [good], 'test');
    assert.ok(adaptorVerify(Buffer.from(key.public_key, 'hex'), good.point, good.digest, sig!));
    assert.equal((await call<{ ok: boolean }>(ch, 'hsm.verifyaudit')).ok, true);
  });

  it('in the esbuild bundle (dist/bin), the keystore signs in its worker too', async () => {
    // The worker runs the file its module is in: bundled, a chunk of dist/bin (scripts/bundle.mjs). The chunk that
    // holds it (found by the worker's role name) is loaded here as anyad would load it, and the keystore in it (the
    // simulator's fixed seed) signs.
    const bin = join(ROOT, 'dist', 'bin');
    let chunk: string | undefined;
    for (const f of (await readdir(bin)).filter((n) => n.endsWith('.js')))
      if ((await readFile(join(bin, f), 'utf8')).includes('anya-hsm-adaptor-worker')) chunk = join(bin, f);
    assert.ok(chunk, 'the bundle has the adaptor worker');
    // (The keystore is the worker's only user, so the two are in one chunk.)
    const bundled = (await import(pathToFileURL(chunk).href)) as { SoftwareProvider?: typeof SoftwareProvider };
    assert.ok(bundled.SoftwareProvider, 'the keystore is in the chunk with its worker');
    const p = new bundled.SoftwareProvider({});
    await p.initialize();
    try {
      const key = await p.generateKey('bundled', 'secp256k1');
      const items = Array.from({ length: 3 }, (_, i) => ({
        point: secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true),
        digest: new Uint8Array(32).fill(i + 1),
      }));
      const sigs = await p.adaptorSignAll(key.handle, items);
      assert.equal(sigs.length, 3);
      sigs.forEach((sig, i) => assert.ok(adaptorVerify(Buffer.from(key.publicKey, 'hex'), items[i]!.point, items[i]!.digest, sig)));
    } finally {
      await p.close();
    }
  });
});
