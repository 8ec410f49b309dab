// The HSM room with real SoftHSM2 tokens made per test and a real encrypted keystore: keys, low-S signatures checked
// with @noble/curves, non-extractability, wrong PIN, missing token, keystore round trip and damage, rotation, the
// audit chain against edits, deletions and reordering, secrets kept out of the log, and mainnet refusals.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { secp256k1, schnorr } from '@noble/curves/secp256k1.js';
import { p256 } from '@noble/curves/nist.js';
import { Store } from '../../src/store/store.js';
import { isLowS, derToCompact } from '../../src/hsm/ecdsa.js';
import { startDaemon, tempDir, type RunningDaemon } from '../helpers/daemon.js';
import { call, unixChannel, type Channel } from '../helpers/channel.js';
import { hasSoftHsm, makeToken, SOFTHSM_MODULE, type Token } from '../helpers/softhsm.js';

const require = createRequire(import.meta.url);
if (!hasSoftHsm) console.log(`# ${SOFTHSM_MODULE} is missing: the PKCS#11 tests are skipped (npm test installs softhsm2 through apt as root)`);

const digest = (): string => randomBytes(32).toString('hex');

describe('HSM over PKCS#11 (SoftHSM2)', { skip: hasSoftHsm ? false : 'softhsm2 not installed' }, () => {
  let dir: { path: string; remove: () => Promise<void> };
  let token: Token;
  let d: RunningDaemon;
  let ch: Channel;
  const args = (t: Token, extra: string[] = []): string[] => [
    '-hsm.provider=pkcs11',
    `-hsm.tokenlabel=${t.label}`,
    `-hsm.pinfile=${t.pinFile}`,
    '-nobitcoind.enable',
    ...extra,
  ];
  before(async () => {
    dir = await tempDir();
    token = await makeToken(join(dir.path, 'hsm'));
    d = await startDaemon(join(dir.path, 'anya'), { args: args(token), env: { SOFTHSM2_CONF: token.conf } });
    ch = await unixChannel(d.socket);
  });
  after(async () => {
    ch?.close();
    await d?.kill();
    await dir.remove();
  });

  let keyId = '';
  let pub = '';
  it('generates a secp256k1 key on the token and reports the token', async () => {
    const k = await call<{ id: string; public_key: string; provider: string; state: string }>(ch, 'hsm.generatekey', { label: 'hot', group: 'spending' });
    assert.equal(k.provider, 'pkcs11');
    assert.equal(k.state, 'active');
    assert.match(k.public_key, /^0[23][0-9a-f]{64}$/);
    keyId = k.id;
    pub = k.public_key;
    const st = await call<{ provider: string; ready: boolean; curves: string[]; schnorr: boolean; info: { token_label: string } }>(ch, 'hsm.status');
    assert.equal(st.ready, true);
    assert.deepEqual(st.curves, ['secp256k1', 'p256']);
    assert.equal(st.schnorr, false);
    assert.equal(st.info.token_label, 'anya');
  });

  it('signatures verify with @noble/curves and are always low-S', async () => {
    for (let i = 0; i < 40; i++) {
      const dg = digest();
      const { signature } = await call<{ signature: string }>(ch, 'hsm.sign', { key: keyId, digest: dg });
      const der = Buffer.from(signature, 'hex');
      assert.ok(isLowS(der, 'secp256k1'), 'low S');
      assert.ok(secp256k1.verify(derToCompact(der), Buffer.from(dg, 'hex'), Buffer.from(pub, 'hex'), { prehash: false, lowS: true }));
      if (i === 0) assert.equal(await call(ch, 'hsm.verify', { key: keyId, digest: dg, signature }), true);
    }
    const dg = digest();
    const { signature } = await call<{ signature: string }>(ch, 'hsm.sign', { key: keyId, digest: dg });
    assert.equal(await call(ch, 'hsm.verify', { key: keyId, digest: digest(), signature }), false);
    const schnorrTry = await ch.call('hsm.sign', { key: keyId, digest: dg, scheme: 'schnorr' });
    assert.match(schnorrTry.error!.message, /no BIP340 Schnorr mechanism/);
  });

  /** A logged-in read-write session on the test's token from this process (as another program on the box would have). */
  function onToken(op: (p: import('pkcs11js').PKCS11, s: Buffer, pkcs11js: typeof import('pkcs11js')) => void): void {
    const pkcs11js = require('pkcs11js') as typeof import('pkcs11js');
    process.env.SOFTHSM2_CONF = token.conf;
    const p = new pkcs11js.PKCS11();
    p.load(SOFTHSM_MODULE);
    p.C_Initialize();
    try {
      const slot = p.C_GetSlotList(true).find((s) => p.C_GetTokenInfo(s).label.trim() === 'anya')!;
      const s = p.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
      p.C_Login(s, pkcs11js.CKU_USER, token.pin);
      op(p, s, pkcs11js);
      p.C_Logout(s);
    } finally {
      p.C_Finalize();
      delete process.env.SOFTHSM2_CONF;
    }
  }

  it('the private key cannot be read off the token (CKA_VALUE is sensitive)', async () => {
    onToken((p, s, pkcs11js) => {
      p.C_FindObjectsInit(s, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY }]);
      const key = p.C_FindObjects(s)!;
      p.C_FindObjectsFinal(s);
      assert.throws(() => p.C_GetAttributeValue(s, key, [{ type: pkcs11js.CKA_VALUE }]), /CKR_ATTRIBUTE_SENSITIVE/);
      const attrs = p.C_GetAttributeValue(s, key, [{ type: pkcs11js.CKA_EXTRACTABLE }, { type: pkcs11js.CKA_SENSITIVE }]);
      assert.equal(attrs[0]!.value![0], 0);
      assert.equal(attrs[1]!.value![0], 1);
    });
  });

  it('a signature the token cannot make leaves its audit entry followed by sign_failed, and no signature', async () => {
    // The audit entry's commit runs beside the token's signing; when the signing then fails, the log says so.
    const k = await call<{ id: string }>(ch, 'hsm.generatekey', { label: 'vanishing' });
    onToken((p, s, pkcs11js) => {
      p.C_FindObjectsInit(s, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
        { type: pkcs11js.CKA_LABEL, value: 'vanishing' },
      ]);
      const key = p.C_FindObjects(s)!;
      p.C_FindObjectsFinal(s);
      p.C_DestroyObject(s, key);
    });
    const before = await call<{ entries: number }>(ch, 'hsm.verifyaudit');
    const dg = digest();
    const res = await ch.call('hsm.sign', { key: k.id, digest: dg });
    assert.ok(res.error, 'no signature');
    assert.match(res.error.message, /no private key/);
    const tail = await call<Array<{ event: string; key: string; detail: Record<string, unknown> }>>(ch, 'hsm.audit', { from: before.entries + 1, limit: 10 });
    assert.deepEqual(
      tail.map((e) => [e.event, e.key]),
      [
        ['sign', k.id],
        ['sign_failed', k.id],
      ],
    );
    assert.equal(tail[0]!.detail.digest, dg);
    assert.match(String(tail[1]!.detail.reason), /no private key/);
    assert.equal((await call<{ ok: boolean }>(ch, 'hsm.verifyaudit')).ok, true);
    // A key gone from the token stops the next start's self-test (by design); this one is disabled, as an operator would.
    await call(ch, 'hsm.disablekey', { key: k.id });
  });

  it('rotation retires the old key (verifies, no longer signs) and carries its policy over', async () => {
    await call(ch, 'hsm.setpolicy', { subject: `key:${keyId}`, policy: { max_amount_sat: 5000, allow_raw_sign: true } });
    const next = await call<{ id: string; predecessor: string }>(ch, 'hsm.rotatekey', { key: keyId });
    assert.equal(next.predecessor, keyId);
    const dg = digest();
    const denied = await ch.call('hsm.sign', { key: keyId, digest: dg });
    assert.equal(denied.error?.code, -32013);
    assert.equal((denied.error?.data as { rule: string }).rule, 'key_retired');
    assert.match(denied.error!.message, new RegExp(`successor is ${next.id}`));
    const { signature } = await call<{ signature: string }>(ch, 'hsm.sign', { key: next.id, digest: dg });
    assert.equal(await call(ch, 'hsm.verify', { key: next.id, digest: dg, signature }), true);
    const moved = await call<{ policy: { max_amount_sat: number } }>(ch, 'hsm.getpolicy', { subject: `key:${next.id}` });
    assert.equal(moved.policy.max_amount_sat, 5000);
    const keys = await call<Array<{ id: string; state: string }>>(ch, 'hsm.listkeys');
    assert.equal(keys.find((k) => k.id === keyId)!.state, 'retired');
    const dis = await call<{ state: string }>(ch, 'hsm.disablekey', { key: next.id });
    assert.equal(dis.state, 'disabled');
    assert.equal((await ch.call('hsm.sign', { key: next.id, digest: dg })).error?.code, -32013);
  });

  it('the audit chain verifies, then names an edited, a deleted, a reordered, a re-hashed (MAC) and a cut entry', async () => {
    const ok = await call<{ ok: boolean; entries: number; keyed: number; macs_checked: boolean }>(ch, 'hsm.verifyaudit');
    assert.equal(ok.ok, true);
    assert.ok(ok.entries >= 10, `entries ${ok.entries}`);
    assert.equal(ok.keyed, ok.entries, 'every entry carries a MAC from the token');
    assert.equal(ok.macs_checked, true);
    const page = await call<Array<{ seq: number; event: string; mac: string }>>(ch, 'hsm.audit', { from: 1, limit: 3 });
    assert.deepEqual(
      page.map((e) => e.seq),
      [1, 2, 3],
    );
    assert.equal(page[0]!.event, 'generate');
    assert.match(page[0]!.mac, /^[0-9a-f]{64}$/);
    ch.close();
    await d.kill();
    const state = join(d.netdir, 'state');
    const headFile = join(d.netdir, 'hsm-audit.head');
    type Verdict = { ok: boolean; problem?: { seq: number; reason: string }; rollbacks: Array<{ from_seq: number; to_seq: number }> };
    type Entry = {
      seq: number;
      time: string;
      event: string;
      key: string | null;
      detail: Record<string, unknown>;
      prev: string;
      hash: string;
      mac: string | null;
    };
    const rehash = (e: Entry): string =>
      createHash('sha256')
        .update(JSON.stringify([e.seq, e.time, e.event, e.key, e.detail, e.prev]))
        .digest('hex');
    const tamper = async (f: (db: import('../../src/store/store.js').RoomDb) => Promise<void>): Promise<Verdict> => {
      const s = await Store.open(state);
      const db = s.db.sublevel<string, unknown>('hsm', { valueEncoding: 'json' });
      const snapshot: Array<[string, unknown]> = [];
      for await (const kv of db.iterator({ gte: 'a:', lt: 'a;' })) snapshot.push(kv);
      const head = await readFile(headFile);
      await f(db as never);
      await s.close();
      // Edited behind anyad's back, so the state no longer matches its record: started with -acceptstate, the way an
      // operator takes such a state, to see what the audit log itself finds.
      d = await startDaemon(d.datadir, { args: [...args(token), '-acceptstate'], env: { SOFTHSM2_CONF: token.conf } });
      ch = await unixChannel(d.socket);
      const r = await call<Verdict>(ch, 'hsm.verifyaudit');
      ch.close();
      await d.kill();
      // put the log (and its head file) back as it was for the next case
      const s2 = await Store.open(state);
      const db2 = s2.db.sublevel<string, unknown>('hsm', { valueEncoding: 'json' });
      for await (const [k] of db2.iterator({ gte: 'a:', lt: 'a;' })) await db2.del(k);
      for (const [k, v] of snapshot) await db2.put(k, v);
      await s2.close();
      await writeFile(headFile, head);
      return r;
    };
    const edited = await tamper(async (db) => {
      const e = (await db.get('a:000000000004')) as { detail: Record<string, unknown> };
      await db.put('a:000000000004', { ...e, detail: { ...e.detail, caller: 'someone else' } });
    });
    assert.deepEqual([edited.ok, edited.problem?.seq], [false, 4]);
    assert.match(edited.problem!.reason, /entry 4 was changed/);
    const deleted = await tamper((db) => db.del('a:000000000005'));
    assert.deepEqual([deleted.ok, deleted.problem?.seq], [false, 5]);
    assert.match(deleted.problem!.reason, /entry 5 is missing/);
    const reordered = await tamper(async (db) => {
      const a = (await db.get('a:000000000002')) as { seq: number };
      const b = (await db.get('a:000000000003')) as { seq: number };
      await db.put('a:000000000002', { ...b, seq: 2 });
      await db.put('a:000000000003', { ...a, seq: 3 });
    });
    assert.equal(reordered.ok, false);
    assert.equal(reordered.problem?.seq, 2);
    // A forger who edits entry 4 and recomputes every later hash (and both heads) still cannot make the MACs.
    const forge =
      (strip: boolean) =>
      async (db: import('../../src/store/store.js').RoomDb): Promise<void> => {
        const all: Entry[] = [];
        for await (const [, v] of db.iterator({ gte: 'a:000000000000', lt: 'a:999999999999~' })) all.push(v as Entry);
        let prev = all[2]!.hash;
        for (const e of all.slice(3)) {
          if (e.seq === 4) e.detail = { ...e.detail, caller: 'someone else' };
          e.prev = prev;
          e.hash = rehash(e);
          if (strip) e.mac = null;
          prev = e.hash;
          await db.put(`a:${String(e.seq).padStart(12, '0')}`, e);
        }
        await db.put('a:head', { seq: all.at(-1)!.seq, hash: prev });
        const buf = Buffer.alloc(128, 0x20);
        buf.write(JSON.stringify({ seq: all.at(-1)!.seq, hash: prev }));
        await writeFile(headFile, buf);
      };
    const forged = await tamper(forge(false));
    assert.deepEqual([forged.ok, forged.problem?.seq], [false, 4]);
    assert.match(forged.problem!.reason, /MAC the provider's audit key did not make/);
    const stripped = await tamper(forge(true));
    assert.deepEqual([stripped.ok, stripped.problem?.seq], [false, 4]);
    assert.match(stripped.problem!.reason, /entry 4 carries no MAC and no MAC of its commit covers it/);
    // A cut tail with its LevelDB head rewritten: the head file outside LevelDB still knows the true end.
    const cut = await tamper(async (db) => {
      const head = (await db.get('a:head')) as { seq: number };
      const last = (await db.get(`a:${String(head.seq - 2).padStart(12, '0')}`)) as Entry;
      await db.del(`a:${String(head.seq).padStart(12, '0')}`);
      await db.del(`a:${String(head.seq - 1).padStart(12, '0')}`);
      await db.put('a:head', { seq: last.seq, hash: last.hash });
    });
    assert.equal(cut.ok, false);
    assert.equal(cut.rollbacks.length, 1);
    assert.equal(cut.rollbacks[0]!.from_seq - cut.rollbacks[0]!.to_seq, 2, 'the two cut entries are named');
    assert.match(cut.problem!.reason, /rollback recorded .*entries were removed, or an older state was restored/);
    d = await startDaemon(d.datadir, { args: [...args(token), '-acceptstate'], env: { SOFTHSM2_CONF: token.conf } });
    ch = await unixChannel(d.socket);
    assert.equal((await call<{ ok: boolean }>(ch, 'hsm.verifyaudit')).ok, true, 'restored log verifies again');
  });

  it('48 signatures at once from 8 connections on 4 keys (signed on the thread pool): each verifies for its own key and digest, each audited once', async () => {
    // A daemon and token of its own: concurrent signatures share audit commits, which the sequential tests above
    // assume they do not.
    const tok = await makeToken(join(dir.path, 'hsm-par'));
    const own = await startDaemon(join(dir.path, 'anya-par'), { args: args(tok), env: { SOFTHSM2_CONF: tok.conf } });
    const admin = await unixChannel(own.socket);
    const keys = await Promise.all(
      [0, 1, 2, 3].map((i) => call<{ id: string; public_key: string }>(admin, 'hsm.generatekey', { label: `par${i}`, ...(i === 3 ? { curve: 'p256' } : {}) })),
    );
    const chans = await Promise.all(Array.from({ length: 8 }, () => unixChannel(own.socket)));
    try {
      const before = await call<{ entries: number }>(admin, 'hsm.verifyaudit');
      const jobs = Array.from({ length: 48 }, (_, i) => ({ key: keys[i % 4]!, dg: digest(), via: chans[i % 8]! }));
      const sigs = await Promise.all(jobs.map((j) => call<{ signature: string }>(j.via, 'hsm.sign', { key: j.key.id, digest: j.dg })));
      for (const [i, j] of jobs.entries()) {
        const der = Buffer.from(sigs[i]!.signature, 'hex');
        const curve = i % 4 === 3 ? p256 : secp256k1;
        assert.ok(curve.verify(derToCompact(der), Buffer.from(j.dg, 'hex'), Buffer.from(j.key.public_key, 'hex'), { prehash: false }), `signature ${i}`);
      }
      const entries = await call<Array<{ event: string; key: string; detail: { digest: string } }>>(admin, 'hsm.audit', {
        from: before.entries + 1,
        limit: 100,
      });
      assert.deepEqual(entries.map((e) => `${e.event} ${e.key} ${e.detail.digest}`).sort(), jobs.map((j) => `sign ${j.key.id} ${j.dg}`).sort());
      const verdict = await call<{ ok: boolean; unkeyed_tail: number }>(admin, 'hsm.verifyaudit');
      assert.equal(verdict.ok, true);
      assert.equal(verdict.unkeyed_tail, 0, 'every commit ends with an entry the token MACs');
    } finally {
      for (const c of chans) c.close();
      admin.close();
      await own.kill();
    }
  });

  it('P-256 keys (what a TPM offers) sign and verify too', async () => {
    const k = await call<{ id: string; public_key: string; curve: string }>(ch, 'hsm.generatekey', { label: 'tpm-like', curve: 'p256' });
    assert.equal(k.curve, 'p256');
    const dg = digest();
    const { signature } = await call<{ signature: string }>(ch, 'hsm.sign', { key: k.id, digest: dg });
    assert.ok(
      p256.verify(derToCompact(Buffer.from(signature, 'hex')), Buffer.from(dg, 'hex'), Buffer.from(k.public_key, 'hex'), { prehash: false, lowS: true }),
    );
    assert.equal(await call(ch, 'hsm.verify', { key: k.id, digest: dg, signature }), true);
  });

  it('the PIN never reaches the log', async () => {
    const all = JSON.stringify(d.logs) + d.stderr();
    assert.ok(!all.includes(token.pin));
  });

  it('a wrong PIN or a missing token stops the start with a clear reason and no secret', async () => {
    const wrong = join(dir.path, 'wrongpin');
    await writeFile(wrong, '999999\n', { mode: 0o600 });
    const a = await startDaemon(join(dir.path, 'w'), {
      args: ['-hsm.provider=pkcs11', '-hsm.tokenlabel=anya', `-hsm.pinfile=${wrong}`, '-nobitcoind.enable'],
      env: { SOFTHSM2_CONF: token.conf },
      waitFor: 'nothing',
    });
    assert.equal(await a.exited, 1);
    assert.match(a.stderr(), /wrong PIN for token 'anya'/);
    assert.ok(!(a.stderr() + JSON.stringify(a.logs)).includes('999999'));
    const b = await startDaemon(join(dir.path, 'm'), {
      args: ['-hsm.provider=pkcs11', '-hsm.tokenlabel=nosuch', `-hsm.pinfile=${token.pinFile}`, '-nobitcoind.enable'],
      env: { SOFTHSM2_CONF: token.conf },
      waitFor: 'nothing',
    });
    assert.equal(await b.exited, 1);
    assert.match(b.stderr(), /no token labelled 'nosuch' is present/);
  });
});

describe('HSM software keystore', () => {
  let dir: { path: string; remove: () => Promise<void> };
  before(async () => (dir = await tempDir()));
  after(async () => dir.remove());
  const base = ['-hsm.provider=software', '-hsm.kdfcost=12', '-nobitcoind.enable'];

  it('create, sign (ECDSA and Schnorr), lock, unlock; restart with a passphrase file; wrong passphrase leaves the file untouched', async () => {
    const dd = join(dir.path, 'a');
    let d = await startDaemon(dd, { args: base });
    let ch = await unixChannel(d.socket);
    assert.equal((await call<{ locked: boolean }>(ch, 'hsm.status')).locked, true);
    assert.equal((await ch.call('hsm.generatekey', { label: 'x' })).error?.code, -32012, 'locked before the keystore exists');
    assert.equal((await ch.call('hsm.createkeystore', { passphrase: 'short' })).error?.code, -32602);
    await call(ch, 'hsm.createkeystore', { passphrase: 'correct horse battery' });
    const file = join(d.netdir, 'keystore.json');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await ch.call('hsm.createkeystore', { passphrase: 'correct horse battery' })).error?.code, -32014, 'never overwrites');
    const k = await call<{ id: string; public_key: string }>(ch, 'hsm.generatekey', { label: 'taproot' });
    const dg = digest();
    const s = await call<{ signature: string }>(ch, 'hsm.sign', { key: k.id, digest: dg, scheme: 'schnorr' });
    assert.ok(schnorr.verify(Buffer.from(s.signature, 'hex'), Buffer.from(dg, 'hex'), Buffer.from(k.public_key, 'hex').subarray(1)));
    const e = await call<{ signature: string }>(ch, 'hsm.sign', { key: k.id, digest: dg });
    assert.ok(isLowS(Buffer.from(e.signature, 'hex'), 'secp256k1'));
    const xpub = await call<string>(ch, 'hsm.getxpub');
    assert.match(xpub, /^tpub/, 'regtest keys print as tpub, as Bitcoin Core prints them');
    await call(ch, 'hsm.lock');
    assert.equal((await ch.call('hsm.sign', { key: k.id, digest: dg })).error?.code, -32012);
    const before = createHash('sha256')
      .update(await readFile(file))
      .digest('hex');
    const wrong = await ch.call('hsm.unlock', { passphrase: 'wrong passphrase' });
    assert.equal(wrong.error?.code, -32012);
    assert.match(wrong.error!.message, /wrong passphrase, or the file was changed/);
    assert.equal(
      createHash('sha256')
        .update(await readFile(file))
        .digest('hex'),
      before,
      'file untouched',
    );
    await call(ch, 'hsm.unlock', { passphrase: 'correct horse battery', timeout: 0 });
    assert.equal((await call<{ signature: string }>(ch, 'hsm.sign', { key: k.id, digest: dg })).signature.length > 0, true);
    ch.close();
    await d.kill();
    const pf = join(dir.path, 'pass');
    await writeFile(pf, 'correct horse battery\n', { mode: 0o600 });
    d = await startDaemon(dd, { args: [...base, `-hsm.passphrasefile=${pf}`] });
    ch = await unixChannel(d.socket);
    assert.equal((await call<{ locked: boolean }>(ch, 'hsm.status')).locked, false);
    assert.equal(await call<string>(ch, 'hsm.getxpub'), xpub, 'the same seed after restart');
    ch.close();
    await d.kill();
    const all = JSON.stringify(d.logs) + d.stderr();
    assert.ok(!all.includes('correct horse battery') && !all.includes('wrong passphrase'), 'no passphrase in the log');
  });

  it('a tampered or truncated keystore is refused with a clear error and left as it is', async () => {
    const dd = join(dir.path, 'b');
    let d = await startDaemon(dd, { args: base });
    let ch = await unixChannel(d.socket);
    await call(ch, 'hsm.createkeystore', { passphrase: 'a good passphrase' });
    ch.close();
    await d.kill();
    const file = join(d.netdir, 'keystore.json');
    const good = await readFile(file, 'utf8');
    const json = JSON.parse(good) as { data: string; kdf: { logN: number } };
    const variants: Array<[string, string, RegExp]> = [
      [
        'ciphertext changed',
        JSON.stringify({ ...json, data: Buffer.from(Buffer.from(json.data, 'base64').map((b, i) => (i === 5 ? b ^ 1 : b))).toString('base64') }),
        /wrong passphrase, or the file was changed/,
      ],
      ['header changed', JSON.stringify({ ...json, kdf: { ...json.kdf, logN: json.kdf.logN + 1 } }), /wrong passphrase, or the file was changed/],
      ['truncated', good.slice(0, good.length / 2), /damaged \(not JSON; truncated\?\)/],
    ];
    for (const [name, body, re] of variants) {
      await writeFile(file, body, { mode: 0o600 });
      d = await startDaemon(dd, { args: base });
      ch = await unixChannel(d.socket);
      const r = await ch.call('hsm.unlock', { passphrase: 'a good passphrase' });
      assert.match(r.error?.message ?? '', re, name);
      assert.equal(await readFile(file, 'utf8'), body, `${name}: file left as it is`);
      ch.close();
      await d.kill();
    }
  });

  it('SIGKILL while keys are being added: the keystore stays whole and holds every acknowledged key', async () => {
    const dd = join(dir.path, 'c');
    const pf = join(dir.path, 'pass-c');
    await writeFile(pf, 'passphrase for c\n', { mode: 0o600 });
    let d = await startDaemon(dd, { args: base });
    let ch = await unixChannel(d.socket);
    await call(ch, 'hsm.createkeystore', { passphrase: 'passphrase for c' });
    const acked: string[] = [];
    const stream = (async () => {
      for (let i = 0; i < 1000; i++) {
        const r = await ch.call('hsm.generatekey', { label: `k${i}` });
        if (r.error) return;
        acked.push((r.result as { public_key: string }).public_key);
      }
    })().catch(() => undefined);
    for (let i = 0; acked.length < 5; i++) {
      assert.ok(i < 2000, 'keys were not being added');
      await new Promise((r) => setTimeout(r, 5));
    }
    process.kill(d.pid, 'SIGKILL');
    await stream;
    await d.exited;
    d = await startDaemon(dd, { args: [...base, `-hsm.passphrasefile=${pf}`] });
    ch = await unixChannel(d.socket);
    const keys = await call<Array<{ public_key: string }>>(ch, 'hsm.listkeys');
    for (const pk of acked)
      assert.ok(
        keys.some((k) => k.public_key === pk),
        'acknowledged key survives',
      );
    assert.equal((await call<{ ok: boolean }>(ch, 'hsm.verifyaudit')).ok, true);
    ch.close();
    await d.kill();
  });

  it('off mainnet, a provider that cannot start falls back to the next one, loudly', async () => {
    const d = await startDaemon(join(dir.path, 'fb'), {
      args: ['-hsm.provider=pkcs11', '-hsm.tokenlabel=absent', `-hsm.pinfile=${join(dir.path, 'nopin')}`, '-hsm.provider=simulator', '-nobitcoind.enable'],
    });
    const line = await d.waitForLog((l) => l.msg === 'HSM FALLBACK: the preferred provider could not start; using a fallback');
    assert.equal(line.provider, 'simulator');
    assert.match(JSON.stringify(line.failed), /pkcs11: /);
    const ch = await unixChannel(d.socket);
    assert.equal((await call<{ provider: string }>(ch, 'hsm.status')).provider, 'simulator');
    ch.close();
    await d.kill();
  });

  it('mainnet refuses the simulator, a fallback list, and audit off', async () => {
    for (const [args, re] of [
      [['-hsm.provider=simulator'], /hsm\.provider=simulator is refused on mainnet/],
      [['-hsm.provider=pkcs11', '-hsm.provider=software'], /only one provider on mainnet/],
      [['-hsm.provider=software', '-nohsm.audit'], /hsm\.audit=0 is refused on mainnet/],
    ] as const) {
      const d = await startDaemon(join(dir.path, `main-${randomBytes(3).toString('hex')}`), {
        args: ['-network=main', '-nobitcoind.enable', ...args],
        waitFor: 'nothing',
      });
      assert.equal(await d.exited, 1);
      assert.match(d.stderr(), re);
    }
  });
});
