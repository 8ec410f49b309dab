// The state channels room end to end across restarts: two anyad instances (Alice opens, Bob accepts) on one bcoin
// regtest node, set up by channels-setup.ts. Revealed per-commitment secrets at rest: in no file of either datadir nor
// a backup, and a record an earlier anyad kept in clear sealed when Alice's anyad starts again. A funding the node did
// not take is sent again at each block; a cancelled channel whose funding appears later (from a copy of Alice's
// datadir) is followed again.

import assert from 'node:assert/strict';
import { cp, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Store } from '../../src/store/store.js';
import { STATE_RECORD } from '../../src/daemon/state.js';
import { MAX_INDEX, SecretStore } from '../../src/adapters/channels/shachain.js';
import { appHash, call, CAPACITY, DELAY, refuses, twoAnyads, type Step } from './channels-setup.js';

/** The forms a 32-byte secret could take in a file: hex (either case), raw, base64. */
function forms(secret: string): Buffer[] {
  const raw = Buffer.from(secret, 'hex');
  return [Buffer.from(secret), Buffer.from(secret.toUpperCase()), raw, Buffer.from(raw.toString('base64')), Buffer.from(raw.toString('base64url'))];
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** The files under `dir` holding any form of any of the secrets (a backup's base64 entries decoded too). */
async function filesHolding(dir: string, secrets: string[]): Promise<string[]> {
  const found: string[] = [];
  for (const f of await filesUnder(dir)) {
    // A running anyad renames temporary files into place (the state record): one gone since the listing is skipped.
    const data = await readFile(f).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return Buffer.alloc(0);
      throw err;
    });
    const parts = [data];
    for (const line of data.toString('utf8').split('\n')) {
      try {
        const v = JSON.parse(line) as unknown;
        if (Array.isArray(v)) for (const x of v) if (typeof x === 'string') parts.push(Buffer.from(x, 'base64'));
        if (v && typeof v === 'object' && 'data' in v) parts.push(Buffer.from(String((v as { data: unknown }).data), 'base64'));
      } catch {
        // not a JSON line
      }
    }
    const all = Buffer.concat(parts);
    if (secrets.some((s) => forms(s).some((x) => all.includes(x)))) found.push(f);
  }
  return found;
}

describe('state channels: restarts, secrets at rest, a funding sent again', () => {
  const w = twoAnyads();
  const { start, view, waitState, inMempool, openChannel, update, revealed } = w;

  it('revealed secrets at rest: none in either datadir nor in a backup; a record an earlier anyad kept in clear is sealed at start (issue 26)', async () => {
    const id = await openChannel();
    const avail = CAPACITY - (await view(w.alice, id)).fee_sat;
    for (const [i, toBob] of [10_000_000, 20_000_000, 15_000_000, 30_000_000].entries())
      await (i % 2 === 0 ? update(id, w.alice, w.bob, avail - toBob, toBob, appHash(i)) : update(id, w.bob, w.alice, avail - toBob, toBob, appHash(i)));
    const secrets = revealed.filter((r) => r.channel === id);
    assert.equal(secrets.length, 8);
    for (const p of [w.alice, w.bob]) await call(p, 'backup', [`secrets-${p.name}.backup`]);
    for (const p of [w.alice, w.bob])
      assert.deepEqual(
        await filesHolding(
          p.d.datadir,
          secrets.map((r) => r.secret),
        ),
        [],
        `no revealed secret in any file of ${p.name}'s datadir or backup`,
      );

    // What an earlier anyad kept: Alice's record of the channel with Bob's revealed secrets in clear.
    w.alice.ch.close();
    await w.alice.d.kill();
    const netdir = join(w.alice.d.datadir, 'regtest');
    const fromBob = secrets.filter((r) => r.to === 'alice');
    const old = await Store.open(join(netdir, 'state'), { recordFile: join(netdir, STATE_RECORD) });
    try {
      const db = await old.room('channels');
      const rec = (await db.get(`c:${id}`)) as { their_secrets: unknown[] };
      const clear = new SecretStore();
      for (const r of fromBob) clear.insert(Buffer.from(r.secret, 'hex'), MAX_INDEX - BigInt(r.number));
      await old.batch([{ type: 'put', sublevel: db, key: `c:${id}`, value: { ...rec, their_secrets: clear.save() } }], { sync: true });
    } finally {
      await old.close();
    }
    assert.notDeepEqual(
      await filesHolding(
        w.alice.d.datadir,
        fromBob.map((r) => r.secret),
      ),
      [],
      'the clear record is on disk to begin with',
    );
    w.alice = await start('alice', w.alice);
    await w.alice.d.waitForLog((l) => l.msg === 'revealed channel secrets kept in clear sealed by the HSM room');
    assert.deepEqual(
      await filesHolding(
        w.alice.d.datadir,
        fromBob.map((r) => r.secret),
      ),
      [],
      'the clear copies left the LevelDB files',
    );
    // The sealed store still holds them: Bob's next secrets are checked against them (BOLT 3) and taken.
    await update(id, w.alice, w.bob, avail - 25_000_000, 25_000_000, appHash(5));
    await update(id, w.bob, w.alice, avail - 35_000_000, 35_000_000, appHash(6));
    assert.equal((await view(w.alice, id)).number, 6);
    // A secret revealed while the keystore is locked is refused (Locked): neither kept in clear nor lost, the same
    // message is taken once the keystore is unlocked.
    const u = await call<{ message: string }>(w.alice, 'sc.update', {
      id,
      to_opener_sat: avail - 36_000_000,
      to_accepter_sat: 36_000_000,
      app_hash: appHash(7),
    });
    const ack = await call<Step>(w.bob, 'sc.receive', { message: u.message });
    await call(w.alice, 'hsm.lock');
    await refuses(w.alice, 'sc.receive', { message: ack.message }, -32012, /./);
    await call(w.alice, 'hsm.unlock', { passphrase: "alice's keystore passphrase", timeout: 0 });
    const revoke = await call<Step>(w.alice, 'sc.receive', { message: ack.message });
    assert.equal((await call<Step>(w.bob, 'sc.receive', { message: revoke.message })).message, null);
    assert.deepEqual([(await view(w.alice, id)).number, (await view(w.bob, id)).number], [7, 7]);
  });

  /**
   * Open → accept → funding_created (its coinbase input just mature) → funding_signed after the chain's tip was
   * taken back (invalidateblock): the coin is immature again, so the node does not take the funding for a block.
   */
  const openImmature = async (): Promise<{ id: string; txid: string }> => {
    const [block] = await w.node.mine(1, w.alice.address);
    await w.node.mine(99, w.bob.address);
    const b = await w.node.rpc<{ tx: string[] }>('getblock', block, true, false);
    const opened = await call<{ id: string; message: string }>(w.alice, 'sc.open', {
      capacity_sat: CAPACITY,
      push_sat: 0,
      to_self_delay: DELAY,
      fee_rate_sat_vb: 2,
      utxos: [{ txid: b.tx[0]!, vout: 0 }],
    });
    const accepted = await call<{ message: string }>(w.bob, 'sc.accept', { message: opened.message, to_self_delay: DELAY });
    const created = await call<Step>(w.alice, 'sc.receive', { message: accepted.message });
    const signed = await call<Step>(w.bob, 'sc.receive', { message: created.message });
    await w.node.rpc('invalidateblock', await w.node.rpc<string>('getbestblockhash'));
    // The broadcast is refused (a premature spend of a coinbase) or dropped: the channel stays in funding.
    await w.alice.ch.call('sc.receive', { message: signed.message }, undefined, 30_000);
    const v = await view(w.alice, opened.id);
    assert.equal(v.state, 'funding');
    assert.equal((await w.node.rpc<string[]>('getrawmempool')).includes(v.funding_txid), false, 'the node did not take the funding');
    return { id: opened.id, txid: v.funding_txid };
  };

  it('a funding the node did not take is sent again at each block; sc.cancel refuses while it is in the mempool', async () => {
    const { id, txid } = await openImmature();
    // The next block makes the coin mature: Alice's anyad sends the funding again, and it stays pending.
    await w.node.mine(1, w.bob.address);
    await inMempool(txid);
    await refuses(w.alice, 'sc.cancel', { id }, -32014, /is in the mempool; it cannot be cancelled/);
    await w.node.mine(1, w.bob.address);
    await waitState(w.alice, id, 'open');
    await waitState(w.bob, id, 'open');
    await refuses(w.alice, 'sc.cancel', { id }, -32014, /only a channel whose funding was never signed/);
  });

  it('a cancelled channel whose funding appears later is followed again', async () => {
    const { id, txid } = await openImmature();
    // A copy of Alice's anyad as it is now (a backup restored elsewhere, or a node that took the funding after all).
    w.alice.ch.close();
    await w.alice.d.kill();
    await cp(join(w.dir.path, 'alice'), join(w.dir.path, 'alice-twin'), { recursive: true });
    await cp(join(w.dir.path, 'alice.pass'), join(w.dir.path, 'alice-twin.pass'));
    w.alice = await start('alice', w.alice);
    // Unknown to the node and its coin unspent: the cancel is allowed.
    assert.equal((await call<{ state: string }>(w.alice, 'sc.cancel', { id })).state, 'cancelled');
    const twin = await start('alice-twin', w.alice);
    try {
      await w.node.mine(1, w.bob.address);
      await inMempool(txid);
      await w.node.mine(1, w.bob.address);
      await waitState(w.alice, id, 'open');
      assert.ok(w.alice.d.logs.some((l) => l.id === id && /followed again/.test(String(l.msg))));
    } finally {
      twin.ch.close();
      await twin.d.kill();
    }
  });
});
