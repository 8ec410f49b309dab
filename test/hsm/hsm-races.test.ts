// Issue 26 item 10, the HSM's parts. (1) A key's state was read before its critical section, so a signature that
// arrived while hsm.rotatekey was retiring the key still signed with it afterwards, and two rotations at once both
// made a successor: here a stream of hsm.sign calls from 24 connections runs while 6 hsm.rotatekey calls race on the
// same key, over the socket of a real anyad. (2) Passphrases and Unicode: canonically equivalent spellings open a
// keystore alike, a passphrase that Unicode would fold into another one is refused, saying why.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SoftwareProvider } from '../../src/hsm/software.js';
import { startDaemon, tempDir, type RunningDaemon } from '../helpers/daemon.js';
import { call, unixChannel, type Channel } from '../helpers/channel.js';

type Entry = { seq: number; event: string; key: string | null; detail: Record<string, unknown> };

describe('hsm.sign racing hsm.rotatekey over the socket (software keystore)', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let d: RunningDaemon;
  let ch: Channel;
  before(async () => {
    dir = await tempDir();
    const pf = join(dir.path, 'pass');
    await writeFile(pf, 'a passphrase for the race\n', { mode: 0o600 });
    d = await startDaemon(join(dir.path, 'anya'), {
      args: ['-hsm.provider=software', '-hsm.kdfcost=12', `-hsm.passphrasefile=${pf}`, '-nobitcoind.enable', '-hsm.policydelay=0'],
    });
    ch = await unixChannel(d.socket);
  });
  after(async () => {
    ch?.close();
    await d?.kill();
    await dir.remove();
  });

  it('of 6 concurrent rotations one wins; no signature of the old key is made after its rotate entry; every refusal names key_retired', async () => {
    const { id } = await call<{ id: string }>(ch, 'hsm.generatekey', { label: 'hot' });
    await call(ch, 'hsm.setpolicy', { subject: `key:${id}`, policy: { allow_raw_sign: true, max_amount_sat: 5000 } });
    const signers = await Promise.all(Array.from({ length: 24 }, () => unixChannel(d.socket)));
    const rotators = await Promise.all(Array.from({ length: 6 }, () => unixChannel(d.socket)));
    let stop = false;
    const answers: Array<{ ok: boolean; rule?: string; code?: number }> = [];
    let started!: () => void;
    const firstAnswer = new Promise<void>((r) => (started = r));
    const loops = signers.map(async (c) => {
      // Until the rotations are all answered, and two more each after that.
      for (let extra = 2; extra > 0; extra -= stop ? 1 : 0) {
        const a = await c.call('hsm.sign', { key: id, digest: randomBytes(32).toString('hex') });
        answers.push(a.error ? { ok: false, code: a.error.code, rule: (a.error.data as { rule?: string } | undefined)?.rule } : { ok: true });
        started();
      }
    });
    await firstAnswer;
    const rotations = await Promise.all(rotators.map((c) => c.call('hsm.rotatekey', { key: id })));
    stop = true;
    await Promise.all(loops);
    for (const c of [...signers, ...rotators]) c.close();

    const won = rotations.filter((r) => !r.error);
    assert.equal(won.length, 1, 'exactly one successor');
    for (const r of rotations.filter((x) => x.error)) {
      assert.equal(r.error!.code, -32014, 'the others: Conflict');
      assert.match(r.error!.message, /is retired; only an active key is rotated/);
    }
    const successor = (won[0]!.result as { id: string }).id;
    for (const a of answers.filter((x) => !x.ok)) assert.deepEqual([a.code, a.rule], [-32013, 'key_retired']);
    assert.ok(
      answers.some((a) => !a.ok),
      'signatures asked for after the rotation were refused',
    );
    assert.ok(answers.length > 16, `answers: ${answers.length}`);

    const log: Entry[] = [];
    for (;;) {
      const page = await call<Entry[]>(ch, 'hsm.audit', { from: log.length + 1, limit: 1000 });
      log.push(...page);
      if (page.length < 1000) break;
    }
    const rotate = log.filter((e) => e.event === 'rotate' && e.key === id);
    assert.equal(rotate.length, 1);
    const after = log.filter((e) => e.seq > rotate[0]!.seq && e.key === id && e.event === 'sign');
    assert.deepEqual(after, [], 'no signature of the retired key after its rotate entry');
    const signed = log.filter((e) => e.key === id && e.event === 'sign').length;
    assert.equal(signed, answers.filter((a) => a.ok).length, 'each signature audited once');
    // The successor was written with the policy carried over, in the same batch as the key.
    const policyOf = async (k: string): Promise<unknown> => (await call<{ policy: unknown }>(ch, 'hsm.getpolicy', { subject: `key:${k}` })).policy;
    assert.deepEqual(await policyOf(successor), { allow_raw_sign: true, max_amount_sat: 5000 });
    assert.deepEqual(await policyOf(successor), await policyOf(id));
    assert.equal((await call<{ ok: boolean }>(ch, 'hsm.verifyaudit')).ok, true);
  });

  it('hsm.createkeystore refuses a passphrase Unicode would fold into another, as InvalidParams naming why', async () => {
    const r = await ch.call('hsm.createkeystore', { passphrase: 'ﬁne passphrase for us' });
    assert.equal(r.error?.code, -32602);
    assert.match(r.error!.message, /compatibility characters/);
    assert.doesNotMatch(JSON.stringify(r.error), /ﬁne passphrase/, 'the passphrase is not echoed');
  });
});

describe('keystore passphrases and Unicode normalisation', () => {
  let dir: { path: string; remove: () => Promise<void> };
  before(async () => (dir = await tempDir()));
  after(async () => dir.remove());

  const nfc = 'café crème brûlée';
  const nfd = nfc.normalize('NFD');

  it('canonically equivalent spellings (NFC, NFD) are one passphrase: either opens the keystore made with the other', async () => {
    assert.notEqual(nfc, nfd);
    const file = join(dir.path, 'ks1.json');
    await new SoftwareProvider({ file, logN: 10 }).create(nfd);
    const p = new SoftwareProvider({ file, logN: 10 });
    await p.unlock(nfc, 0);
    await p.generateKey('a', 'secp256k1'); // rewritten: still opens with both
    const q = new SoftwareProvider({ file, logN: 10 });
    await q.unlock(nfd, 0);
    assert.equal(q.xpub(), p.xpub());
  });

  it('a passphrase with compatibility characters is refused at creation and at unlock (it would open the plain one silently)', async () => {
    const file = join(dir.path, 'ks2.json');
    const maker = new SoftwareProvider({ file, logN: 10 });
    await assert.rejects(maker.create('ﬁne passphrase'), /compatibility characters/);
    await assert.rejects(maker.create('ＡＢＣＤＥＦＧＨ full width'), /compatibility characters/);
    await maker.create('fine passphrase');
    const p = new SoftwareProvider({ file, logN: 10 });
    await assert.rejects(p.unlock('ﬁne passphrase', 0), /compatibility characters.*cannot be this keystore's passphrase/);
    assert.equal(p.status().locked, true);
    await assert.rejects(p.unlock('fine passphrasE', 0), /wrong passphrase/);
    await p.unlock('fine passphrase', 0);
    assert.equal(p.status().locked, false);
  });
});
