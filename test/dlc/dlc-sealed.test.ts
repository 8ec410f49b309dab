// DLC secrets at rest (issue 26): the CET adaptor signatures and refund signatures of both parties are kept sealed
// by the HSM room (src/adapters/dlc/sealing.ts says why each field is or is not sealed). Two anyads make a contract;
// once it is accepted, signed and funded, no form of those signatures is in any file of either datadir nor in a
// `backup` file, while dlc.close with the oracle's attestation still completes the attested CET. A record an earlier
// anyad wrote in clear is sealed at start and compacted out of the LevelDB files, and still closes.

import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as bitcoin from 'bitcoinjs-lib';
import { startBcoin, type BcoinNode } from '../helpers/bcoin.js';
import { unixChannel, wsChannel } from '../helpers/channel.js';
import { startDaemon, tempDir } from '../helpers/daemon.js';
import { until } from '../helpers/until.js';
import { keystorePartyArgs } from '../helpers/keystore-party.js';
import { enumDescriptor, makeOracle } from '../peers/dlc-oracle.js';
import { Store } from '../../src/store/store.js';
import { decodeAccept, decodeSign } from '../../src/adapters/dlc/messages.js';
import { makeRpcAuth } from '../../src/rpc/auth.js';
import { call, startParty, type Party } from '../helpers/contract-party.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const ARGS = ['-dlc.minrefunddelay=600', '-dlc.maxrefunddelay=0', `-rpcauth=${makeRpcAuth('reader', 'r-pass', 'readonly')}`];

/** A signature as it could sit in a file: hex (either case), raw bytes, base64. */
function forms(sigHex: string): Buffer[] {
  const raw = Buffer.from(sigHex, 'hex');
  return [Buffer.from(sigHex), Buffer.from(sigHex.toUpperCase()), raw, Buffer.from(raw.toString('base64')), Buffer.from(raw.toString('base64url'))];
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

/** The files of a datadir holding any form of any of the signatures. */
async function filesHolding(dir: string, sigs: string[]): Promise<string[]> {
  const found: string[] = [];
  for (const f of await filesUnder(dir)) {
    const data = await readFile(f).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return Buffer.alloc(0);
      throw err;
    });
    if (sigs.some((s) => forms(s).some((x) => data.includes(x)))) found.push(f);
  }
  return found;
}

/** Whether a backup file (lines of JSON, entries base64) holds any form of any of the signatures. */
async function backupHolds(file: string, sigs: string[]): Promise<boolean> {
  const text = await readFile(file, 'utf8');
  const parts: Buffer[] = [Buffer.from(text)];
  for (const line of text.split('\n')) {
    try {
      const v = JSON.parse(line) as unknown;
      if (Array.isArray(v)) for (const x of v) if (typeof x === 'string') parts.push(Buffer.from(x, 'base64'));
      if (v && typeof v === 'object' && 'data' in v) parts.push(Buffer.from(String((v as { data: unknown }).data), 'base64'));
    } catch {
      // not a JSON line
    }
  }
  const all = Buffer.concat(parts);
  return sigs.some((s) => forms(s).some((x) => all.includes(x)));
}

describe('DLC: adaptor and refund signatures sealed at rest', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let node: BcoinNode;
  let alice: Party;
  let bob: Party;

  const start = (name: string, fresh = true): Promise<Party> => startParty(dir.path, node, name, { extra: ARGS, fresh });
  const coinbase = async (hash: string): Promise<{ txid: string; vout: number }> => {
    const block = await node.rpc<{ tx: string[] }>('getblock', hash, true, false);
    return { txid: block.tx[0]!, vout: 0 };
  };
  const state = async (p: Party, id: string): Promise<string> => (await call<{ state: string }>(p.ch, 'dlc.get', { id })).state;
  const waitState = (p: Party, id: string, want: string) =>
    until(want, async () => ((await state(p, id)) === want ? true : undefined), 800).catch(async (err: Error) => {
      throw new Error(`${err.message} (it is ${await state(p, id)}); ${JSON.stringify(p.d.logs.filter((l) => (l.level as number) >= 40).slice(-5))}`);
    });

  /** A funded contract on a fresh oracle event: its id, the oracle, and every CET and refund signature exchanged. */
  const funded = async (event: string) => {
    const [bobBlock] = await node.mine(1, bob.address);
    const [aliceBlock] = await node.mine(101, alice.address);
    const oracle = makeOracle(enumDescriptor(['win', 'lose', 'draw']), 1, event, 'tagged', 1_600_000_000);
    const offered = await call<{ id: string; offer: string }>(alice.ch, 'dlc.offer', {
      announcement: hex(oracle.ann),
      payouts: [
        { outcome: 'win', offer_payout_sat: 200_000_000 },
        { outcome: 'lose', offer_payout_sat: 0 },
        { outcome: 'draw', offer_payout_sat: 100_000_000 },
      ],
      offer_collateral_sat: 100_000_000,
      total_collateral_sat: 200_000_000,
      fee_rate_sat_vb: 2,
      // Far after the event: no refund sent by the anyads themselves (dlc.autorefund) while a test looks at it.
      refund_locktime: 2_000_000_000,
      utxos: [await coinbase(aliceBlock!)],
    });
    const accepted = await call<{ accept: string }>(bob.ch, 'dlc.accept', { offer: offered.offer, utxos: [await coinbase(bobBlock!)] });
    const signed = await call<{ sign: string }>(alice.ch, 'dlc.sign', { accept: accepted.accept });
    const fin = await call<{ txid: string }>(bob.ch, 'dlc.finalize', { sign: signed.sign });
    await until('the funding in the mempool', async () => ((await node.rpc<string[]>('getrawmempool')).includes(fin.txid) ? true : undefined));
    await node.mine(1, bob.address);
    await waitState(alice, offered.id, 'confirmed');
    await waitState(bob, offered.id, 'confirmed');
    const a = decodeAccept(Buffer.from(accepted.accept, 'hex'));
    const s = decodeSign(Buffer.from(signed.sign, 'hex'));
    const sigs = [...a.cet_adaptor_signatures, a.refund_signature, ...s.cet_adaptor_signatures, s.refund_signature];
    assert.equal(sigs.length, 8);
    return { id: offered.id, oracle, accept: accepted.accept, sign: signed.sign, sigs };
  };

  const closeWin = async (id: string, oracle: ReturnType<typeof makeOracle>): Promise<void> => {
    const closed = await call<{ outcome: string; txid: string }>(alice.ch, 'dlc.close', { id, attestation: hex(oracle.attest(['win'])) });
    assert.equal(closed.outcome, 'win');
    await until('the CET in the mempool', async () => ((await node.rpc<string[]>('getrawmempool')).includes(closed.txid) ? true : undefined));
    const cet = bitcoin.Transaction.fromHex(await node.rpc<string>('getrawtransaction', closed.txid, false));
    assert.deepEqual(
      cet.outs.map((o) => o.value),
      [200_000_000n],
      "the attested outcome's CET: all to Alice",
    );
    await node.mine(1, bob.address);
    await waitState(alice, id, 'closed');
    await waitState(bob, id, 'closed');
  };

  before(async () => {
    dir = await tempDir();
    node = await startBcoin(dir.path);
    alice = await start('alice');
    bob = await start('bob');
    await until('both connected to the node', async () => {
      const a = await call<{ state: string }>(alice.ch, 'chain.getinfo');
      const b = await call<{ state: string }>(bob.ch, 'chain.getinfo');
      return a.state === 'connected' && b.state === 'connected' ? true : undefined;
    });
  });
  after(async () => {
    alice?.ch.close();
    bob?.ch.close();
    await alice?.d.kill();
    await bob?.d.kill();
    await node?.stop().catch(() => undefined);
    await dir?.remove();
  });

  it('no datadir file and no backup holds a CET or refund signature; dlc.get (admin) gives them; the attested CET closes', async () => {
    const c = await funded('sealed-1');
    for (const p of [alice, bob]) {
      assert.deepEqual(await filesHolding(p.d.datadir, c.sigs), [], `${p === alice ? "Alice's" : "Bob's"} datadir`);
      const bk = await call<{ path: string; entries: number }>(p.ch, 'backup', [`dlc-${p === alice ? 'alice' : 'bob'}.backup`]);
      assert.ok(bk.entries > 0);
      assert.equal(await backupHolds(bk.path, c.sigs), false, 'the backup');
      // An admin caller still gets the messages as exchanged (opened).
      const got = await call<{ accept: string; sign: string; signatures: string }>(p.ch, 'dlc.get', { id: c.id });
      assert.equal(got.signatures, 'included');
      assert.equal(got.accept, c.accept);
      assert.equal(got.sign, c.sign);
    }
    await closeWin(c.id, c.oracle);
  });

  it('a record an earlier anyad wrote in clear is sealed at start, compacted out of the files, and still closes', async () => {
    const c = await funded('sealed-2');
    // Alice's record as an earlier anyad wrote it: the messages whole, nothing sealed.
    alice.ch.close();
    await alice.d.kill('SIGTERM');
    const store = await Store.open(join(alice.d.netdir, 'state'));
    const raw = store.db.sublevel<string, unknown>('dlc', { valueEncoding: 'json' });
    const rec = (await raw.get(`c:${c.id}`)) as Record<string, unknown>;
    assert.equal(typeof rec.sealed, 'string', 'sealed by this anyad');
    const { sealed: _sealed, ...clear } = rec;
    await raw.put(`c:${c.id}`, { ...clear, accept: c.accept, sign: c.sign });
    await store.close();
    assert.notDeepEqual(await filesHolding(alice.d.datadir, c.sigs), [], 'the clear record is on disk to begin with');

    const d = await startDaemon(alice.d.datadir, {
      args: keystorePartyArgs(node, join(dir.path, 'alice.pass'), ARGS),
    });
    alice = { d, ch: await unixChannel(d.socket), address: alice.address };
    // Logged once the room's range is compacted.
    await d.waitForLog((l) => l.msg === 'DLC contract signatures sealed by the HSM room');
    assert.deepEqual(await filesHolding(alice.d.datadir, c.sigs), [], 'the clear copies left the LevelDB files');
    await closeWin(c.id, c.oracle);
  });

  it('a readonly caller, or any while locked, gets the messages without the signatures; dlc.close answers Locked while locked, and closes once unlocked', async () => {
    const c = await funded('sealed-3');
    const ro = await wsChannel(bob.d.wsUrl!, 'reader:r-pass');
    try {
      const got = (await ro.call('dlc.get', { id: c.id })).result as { accept: string; sign: string; signatures: string };
      assert.equal(got.signatures, 'omitted');
      const a = decodeAccept(Buffer.from(got.accept, 'hex'));
      const s = decodeSign(Buffer.from(got.sign, 'hex'));
      assert.deepEqual([a.cet_adaptor_signatures, s.cet_adaptor_signatures], [[], []]);
      assert.deepEqual([a.refund_signature, s.refund_signature], ['00'.repeat(64), '00'.repeat(64)]);
      assert.equal(a.funding_pubkey, decodeAccept(Buffer.from(c.accept, 'hex')).funding_pubkey, 'the terms are there');
      assert.ok(!c.sigs.some((x) => JSON.stringify(got).includes(x)));
    } finally {
      ro.close();
    }
    await call(alice.ch, 'hsm.lock');
    const lockedGet = await call<{ state: string; accept: string; signatures: string }>(alice.ch, 'dlc.get', { id: c.id });
    assert.deepEqual([lockedGet.state, lockedGet.signatures], ['confirmed', 'omitted'], 'dlc.get answers while locked, without the signatures');
    assert.equal(decodeAccept(Buffer.from(lockedGet.accept, 'hex')).cet_adaptor_signatures.length, 0);
    const locked = await alice.ch.call('dlc.close', { id: c.id, attestation: hex(c.oracle.attest(['win'])) });
    assert.equal(locked.error?.code, -32012, JSON.stringify(locked));
    assert.equal(await state(alice, c.id), 'confirmed', 'the follower reads the contract while locked');
    await call(alice.ch, 'hsm.unlock', { passphrase: "alice's keystore passphrase", timeout: 0 });
    await closeWin(c.id, c.oracle);
  });

  it('a sealed value moved into another contract record does not open there (the contract id is its purpose)', async () => {
    const x = await funded('sealed-4');
    const y = await funded('sealed-5');
    alice.ch.close();
    await alice.d.kill('SIGTERM');
    const store = await Store.open(join(alice.d.netdir, 'state'));
    const raw = store.db.sublevel<string, unknown>('dlc', { valueEncoding: 'json' });
    const [rx, ry] = (await Promise.all([raw.get(`c:${x.id}`), raw.get(`c:${y.id}`)])) as Array<Record<string, unknown>>;
    await raw.put(`c:${x.id}`, { ...rx, sealed: ry!.sealed });
    await store.close();
    const d = await startDaemon(alice.d.datadir, { args: keystorePartyArgs(node, join(dir.path, 'alice.pass'), ARGS) });
    alice = { d, ch: await unixChannel(d.socket), address: alice.address };
    const moved = await alice.ch.call('dlc.close', { id: x.id, attestation: hex(x.oracle.attest(['win'])) });
    assert.equal(moved.error?.code, -32602, JSON.stringify(moved));
    // dlc.get names the bad sealed value too (it cannot give the messages); dlc.list still shows the contract.
    assert.equal((await alice.ch.call('dlc.get', { id: x.id })).error?.code, -32602);
    const listed = await call<Array<{ id: string; state: string }>>(alice.ch, 'dlc.list');
    assert.equal(listed.find((r) => r.id === x.id)?.state, 'confirmed', 'no CET of another contract was made');
    await closeWin(y.id, y.oracle);
  });
});
