// Secrets at rest (issue 26): HsmApi.sealSecret / openSecret through the HSM room's entry (hsmRoom.create over a real
// LevelDB), on the software keystore and on a SoftHSM2 token made per test: round trip (also across a restart),
// the purpose bound (a value does not open as another purpose's), a changed value refused, Locked while the
// keystore is locked, and a copy of the datadir without the passphrase or the token yields nothing.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cp, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { loadConfig } from '../../src/daemon/config.js';
import { optionGroups } from '../../src/daemon/options.js';
import { hsmRoom } from '../../src/hsm/room.js';
import type { HsmApi } from '../../src/hsm/api.js';
import type { HsmService } from '../../src/hsm/service.js';
import { EventBus } from '../../src/core/events.js';
import { RpcError } from '../../src/core/errors.js';
import { Store } from '../../src/store/store.js';
import { ROOT, tempDir } from '../helpers/daemon.js';
import { hasSoftHsm, makeToken, type Token } from '../helpers/softhsm.js';

interface Opened {
  store: Store;
  service: HsmService;
  api: HsmApi;
  close: () => Promise<void>;
}

async function openRoom(datadir: string, args: string[]): Promise<Opened> {
  const config = loadConfig({ argv: ['-regtest', `-datadir=${datadir}`, ...args], groups: optionGroups([hsmRoom]) });
  await mkdir(config.netdir, { recursive: true });
  const store = await Store.open(join(config.netdir, 'state'));
  const parts = await hsmRoom.create({
    config,
    log: pino({ level: 'silent' }),
    store,
    bus: new EventBus(),
    metrics: new Registry(),
    version: 'test',
    use: () => undefined,
    packageDir: ROOT,
  });
  const service = parts.service as HsmService;
  await service.open();
  return {
    store,
    service,
    api: parts.api as HsmApi,
    close: async () => {
      await service.close();
      await store.close();
    },
  };
}

/** Rejects with an RpcError of this code (and a message matching). */
async function refused(p: Promise<unknown>, code: number, message?: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof RpcError, String(err));
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}

/** Every byte of every file under dir. */
async function allBytes(dir: string): Promise<Buffer> {
  const out: Buffer[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true }))
    if (e.isFile()) out.push(await readFile(join(e.parentPath ?? (e as unknown as { path: string }).path, e.name)));
  return Buffer.concat(out);
}

const INVALID = -32602;
const LOCKED = -32012;
const CONFLICT = -32014;

describe('secrets at rest: software keystore', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let args: string[];
  before(async () => {
    dir = await tempDir();
    const pf = join(dir.path, 'pass');
    await writeFile(pf, 'a passphrase for secrets\n', { mode: 0o600 });
    args = ['-hsm.provider=software', '-hsm.kdfcost=12', `-hsm.passphrasefile=${pf}`];
  });
  after(async () => dir.remove());

  it('round trip, purpose bound, changes refused, Locked while locked; a copy without the passphrase yields nothing', async () => {
    const datadir = join(dir.path, 'a');
    const room = await openRoom(datadir, args);
    const secret = randomBytes(32);
    const sealed = await room.api.sealSecret('channels.seed', secret);
    assert.match(sealed, /^anyad-sealed-v1:[A-Za-z0-9_-]+$/);
    assert.notEqual(await room.api.sealSecret('channels.seed', secret), sealed, 'a fresh nonce each time');
    assert.deepEqual(await room.api.openSecret('channels.seed', sealed), secret);
    await refused(room.api.openSecret('dlc.seed', sealed), INVALID, /sealed for another purpose/);
    const body = Buffer.from(sealed.slice('anyad-sealed-v1:'.length), 'base64url');
    for (const at of [0, 30, body.length - 1]) {
      const changed = Buffer.from(body);
      changed[at]! ^= 1;
      await refused(room.api.openSecret('channels.seed', `anyad-sealed-v1:${changed.toString('base64url')}`), INVALID);
    }
    await refused(room.api.openSecret('channels.seed', `anyad-sealed-v2:${body.toString('base64url')}`), INVALID);
    await refused(room.api.sealSecret('', secret), INVALID, /purpose/);
    // Locked: neither seals nor opens; unlocked again, the old value opens.
    await room.service.lock('test');
    await refused(room.api.sealSecret('channels.seed', secret), LOCKED);
    await refused(room.api.openSecret('channels.seed', sealed), LOCKED);
    await room.service.unlock('a passphrase for secrets', 0, 'test');
    assert.deepEqual(await room.api.openSecret('channels.seed', sealed), secret);
    // Kept at rest by a caller (in a sublevel of its own), then the daemon stops.
    const mine = await room.store.room('secretsuser');
    await mine.put('seed', sealed);
    await room.close();
    // After a restart it opens again.
    const again = await openRoom(datadir, args);
    assert.deepEqual(await again.api.openSecret('channels.seed', (await (await again.store.room('secretsuser')).get('seed')) as string), secret);
    await again.close();
    // A copy of the datadir: the secret's bytes are nowhere in it, and without the passphrase it stays locked.
    const copy = join(dir.path, 'copy');
    await cp(datadir, copy, { recursive: true });
    assert.equal((await allBytes(copy)).indexOf(secret), -1, 'the plaintext is not in the copied files');
    const thief = await openRoom(copy, ['-hsm.provider=software', '-hsm.kdfcost=12']);
    await refused(thief.api.openSecret('channels.seed', sealed), LOCKED);
    await thief.close();
    // Another keystore (another seed) cannot open it either.
    const pf2 = join(dir.path, 'pass2');
    await writeFile(pf2, 'another passphrase\n', { mode: 0o600 });
    const other = await openRoom(join(dir.path, 'b'), ['-hsm.provider=software', '-hsm.kdfcost=12', `-hsm.passphrasefile=${pf2}`]);
    await refused(other.api.openSecret('channels.seed', sealed), INVALID, /under another keystore or token/);
    await other.close();
  });
});

describe('secrets at rest: PKCS#11 token (SoftHSM2)', { skip: hasSoftHsm ? false : 'softhsm2 not installed' }, () => {
  let dir: { path: string; remove: () => Promise<void> };
  const tokenArgs = (t: Token): string[] => ['-hsm.provider=pkcs11', `-hsm.tokenlabel=${t.label}`, `-hsm.pinfile=${t.pinFile}`];
  before(async () => (dir = await tempDir()));
  after(async () => {
    delete process.env.SOFTHSM2_CONF;
    await dir.remove();
  });

  it('round trip across a restart, purpose bound, changes refused; the data key is kept wrapped; another token cannot open it', async () => {
    const token = await makeToken(join(dir.path, 'hsm'));
    process.env.SOFTHSM2_CONF = token.conf;
    const datadir = join(dir.path, 'a');
    const room = await openRoom(datadir, tokenArgs(token));
    const secret = randomBytes(40);
    const sealed = await room.api.sealSecret('peer.session', secret);
    assert.match(sealed, /^anyad-sealed-v1:/);
    assert.deepEqual(await room.api.openSecret('peer.session', sealed), secret);
    await refused(room.api.openSecret('peer.other', sealed), INVALID);
    const changed = `${sealed.slice(0, -2)}${sealed.endsWith('A') ? 'B' : 'A'}${sealed.slice(-1)}`;
    await refused(room.api.openSecret('peer.session', changed), INVALID);
    // The making of the data key is audited; the log verifies.
    const log = await room.service.audit.page(1, 100);
    assert.ok(log.some((e) => e.event === 'secret'));
    assert.equal((await room.service.audit.verify()).ok, true);
    await room.close();
    const again = await openRoom(datadir, tokenArgs(token));
    assert.deepEqual(await again.api.openSecret('peer.session', sealed), secret, 'the wrapped data key is unwrapped after a restart');
    assert.equal((await again.service.audit.page(1, 100)).filter((e) => e.event === 'secret').length, 1, 'one data key, made once');
    await again.close();
    // A copy of the datadir with another token of the same label (and PIN): nothing opens, by name.
    const copy = join(dir.path, 'copy');
    await cp(datadir, copy, { recursive: true });
    assert.equal((await allBytes(copy)).indexOf(secret), -1);
    const other = await makeToken(join(dir.path, 'hsm-other'));
    process.env.SOFTHSM2_CONF = other.conf;
    const thief = await openRoom(copy, tokenArgs(other));
    await refused(thief.api.openSecret('peer.session', sealed), CONFLICT, /holds no key labelled 'anyad secrets at rest v1'/);
    await refused(thief.api.sealSecret('peer.session', secret), CONFLICT);
    await thief.close();
  });
});
