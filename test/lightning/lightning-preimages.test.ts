// Payment preimages at rest (issue 26), through the real daemon over a real LevelDB with Core Lightning test peers
// (test/peers/cln-peer) and a software keystore: after a payment no preimage (hex, raw bytes or base64) is in any
// file of the datadir nor in a `backup` file, while ln.listpayments, l2.status and l2.history still answer it;
// the keystore locked when a payment completes (recorded complete at once, sealed once unlocked); a record an
// earlier anyad wrote in clear, resealed at start; and with no HSM room, no preimage kept at all (read from the node).
//
// The raw scan covers every file; LevelDB's write-ahead log is plain, its tables may be Snappy-compressed, so the
// scan is paired with a logical one over every entry of the stopped state.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ClnClient } from '../../src/adapters/lightning/cln-client.js';
import { LIGHTNING_MIGRATIONS } from '../../src/adapters/lightning/records.js';
import { STATE_RECORD } from '../../src/daemon/state.js';
import { Store } from '../../src/store/store.js';
import { lndSettled, startDaemon, tempDir, type RunningDaemon } from '../helpers/daemon.js';
import { call, closeAll, unixChannel, type Channel } from '../helpers/channel.js';
import { until } from '../helpers/until.js';
import { ClnPeer } from '../peers/cln-peer.js';
import { LnNetwork } from '../peers/ln-network.js';
import { LndPeer } from '../peers/lnd-peer.js';

interface Payment {
  payment_hash: string;
  status: string;
  preimage?: string;
}
interface Payments {
  stale: boolean;
  payments: Payment[];
}

const PASSPHRASE = 'a passphrase for the preimages';

/** Every form a preimage could be written in. */
function forms(preimage: string): Buffer[] {
  const raw = Buffer.from(preimage, 'hex');
  return [Buffer.from(preimage), Buffer.from(preimage.toUpperCase()), raw, Buffer.from(raw.toString('base64')), Buffer.from(raw.toString('base64url'))];
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

/** The files (of a datadir) that hold any form of the preimage. */
async function filesHolding(dir: string, preimage: string): Promise<string[]> {
  const found: string[] = [];
  for (const f of await filesUnder(dir)) {
    // A running anyad renames temporary files into place (the state record): one gone since the listing is skipped.
    const data = await readFile(f).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return Buffer.alloc(0);
      throw err;
    });
    if (forms(preimage).some((x) => data.includes(x))) found.push(f);
  }
  return found;
}

/** A backup file's contents as written (its entries are base64 key/value pairs): decoded, for a scan. */
async function backupHolds(file: string, preimage: string): Promise<boolean> {
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
  return forms(preimage).some((x) => all.includes(x));
}

/** Every key and value of a stopped anyad's LevelDB, as text. */
async function stateText(netdir: string): Promise<string> {
  const store = await Store.open(join(netdir, 'state'));
  try {
    let out = '';
    for await (const [k, v] of store.db.iterator()) out += `${k} ${JSON.stringify(v)}\n`;
    return out;
  } finally {
    await store.close();
  }
}

/** A datadir whose state is what the previous build left: lightning schema 1, complete payments with preimages in clear. */
async function oldState(datadir: string, records: Array<{ hash: string; preimage: string }>): Promise<string> {
  const netdir = join(datadir, 'regtest');
  await mkdir(netdir, { recursive: true });
  const old = await Store.open(join(netdir, 'state'), { recordFile: join(netdir, STATE_RECORD) });
  await old.adopt({}); // a new state's identity, as anyad gives it
  const db = await old.room('lightning', LIGHTNING_MIGRATIONS.slice(0, 1));
  await old.batch(
    records.map(({ hash, preimage }) => ({
      type: 'put' as const,
      sublevel: db,
      key: `cln:pay:${hash}`,
      value: { payment_hash: hash, bolt11: 'lnbcrt1old', status: 'complete', amount_msat: 1000, fee_msat: 0, created_at: 1_700_000_000, preimage },
    })),
  );
  await old.close();
  return netdir;
}

const randomPayment = (): { hash: string; preimage: string } => {
  const preimage = randomBytes(32).toString('hex');
  return { preimage, hash: createHash('sha256').update(Buffer.from(preimage, 'hex')).digest('hex') };
};

describe('payment preimages at rest', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let net: LnNetwork;
  let a: ClnPeer;
  let b: ClnPeer;
  let payee: ClnClient;
  let keystoreArgs: string[];
  const lnArgs = (): string[] => ['-cln.enable', `-cln.rpcfile=${a.socketPath}`, '-nobitcoind.enable', '-noml.enable', '-ln.watchinterval=100'];
  let n = 0;
  const invoice = async (): Promise<{ bolt11: string; payment_hash: string }> =>
    payee.call<{ bolt11: string; payment_hash: string }>('invoice', { amount_msat: 10_000, label: `pre-${n++}`, description: 'preimage at rest' });

  before(async () => {
    dir = await tempDir();
    net = new LnNetwork();
    a = new ClnPeer(net, join(dir.path, 'a.rpc'), 'alice');
    b = new ClnPeer(net, join(dir.path, 'b.rpc'), 'bob');
    await a.start();
    await b.start();
    net.connect(a, b.id);
    payee = new ClnClient(b.socketPath, 5000);
    const pf = join(dir.path, 'pass');
    await writeFile(pf, `${PASSPHRASE}\n`, { mode: 0o600 });
    keystoreArgs = ['-hsm.provider=software', '-hsm.kdfcost=12', `-hsm.passphrasefile=${pf}`];
  });
  after(() => closeAll(payee, a, b, dir));

  describe('with a keystore', () => {
    let d: RunningDaemon;
    let ch: Channel;
    let paidPreimage = '';
    let paidHash = '';
    let lockedPreimage = '';
    before(async () => {
      d = await startDaemon(join(dir.path, 'anya-ks'), { args: [...keystoreArgs, ...lnArgs()] });
      ch = await unixChannel(d.socket);
    });
    after(() => closeAll(ch, d));

    it('a paid preimage is answered by ln.pay, ln.listpayments, l2.status and l2.history, and is in no file of the datadir', async () => {
      const inv = await invoice();
      const paid = await call<{ status: string; preimage: string }>(ch, 'ln.pay', { invoice: inv.bolt11 });
      assert.equal(paid.status, 'complete');
      assert.equal(createHash('sha256').update(Buffer.from(paid.preimage, 'hex')).digest('hex'), inv.payment_hash);
      paidPreimage = paid.preimage;
      paidHash = inv.payment_hash;
      const listed = await call<Payments>(ch, 'ln.listpayments');
      assert.equal(listed.payments.find((p) => p.payment_hash === inv.payment_hash)?.preimage, paid.preimage);
      const st = await call<{ detail: Payment & Record<string, unknown> }>(ch, 'l2.status', { protocol: 'lightning', id: inv.payment_hash });
      assert.equal(st.detail.preimage, paid.preimage);
      assert.ok(!('preimage_sealed' in st.detail), 'the sealed form is never in an answer');
      const hist = await call<{ items: Array<{ id: string; detail: Payment }> }>(ch, 'l2.history', { protocol: 'lightning' });
      assert.equal(hist.items.find((x) => x.id === inv.payment_hash)?.detail.preimage, paid.preimage);
      assert.deepEqual(await filesHolding(d.datadir, paid.preimage), []);
    });

    it('a backup holds no preimage', async () => {
      const b1 = await call<{ path: string; entries: number }>(ch, 'backup', ['preimages.backup']);
      assert.ok(b1.entries > 0);
      assert.equal(await backupHolds(b1.path, paidPreimage), false);
    });

    it('keystore locked when a payment completes: recorded complete at once, answered from the node, sealed once unlocked', async () => {
      await call(ch, 'hsm.lock');
      const inv = await invoice();
      const paid = await call<{ status: string; preimage: string }>(ch, 'ln.pay', { invoice: inv.bolt11 });
      assert.equal(paid.status, 'complete');
      lockedPreimage = paid.preimage;
      const listed = await call<Payments>(ch, 'ln.listpayments');
      const rec = listed.payments.find((p) => p.payment_hash === inv.payment_hash)!;
      assert.deepEqual([rec.status, rec.preimage], ['complete', paid.preimage], 'paid, and the proof read from the node');
      const again = await ch.call('ln.pay', { invoice: inv.bolt11 });
      assert.equal(again.error?.code, -32014, 'the fact that it was paid is kept: no second payment');
      assert.deepEqual(await filesHolding(d.datadir, paid.preimage), [], 'nothing in clear while locked');
      const sealedBefore = d.logs.filter((l) => l.msg === 'payment preimages sealed by the HSM room').length;
      await call(ch, 'hsm.unlock', { passphrase: PASSPHRASE, timeout: 0 });
      await until('the waiting preimage sealed', async () =>
        d.logs.filter((l) => l.msg === 'payment preimages sealed by the HSM room').length > sealedBefore ? true : undefined,
      );
      // With the node gone the preimage can only come from anyad's sealed record.
      await a.stop();
      try {
        const stale = await until('the node seen gone', async () => {
          const r = await call<Payments>(ch, 'ln.listpayments');
          return r.stale ? r : undefined;
        });
        assert.equal(stale.payments.find((p) => p.payment_hash === inv.payment_hash)?.preimage, paid.preimage);
        assert.equal(stale.payments.find((p) => p.payment_hash === paidHash)?.preimage, paidPreimage);
      } finally {
        await a.start();
      }
      assert.deepEqual(await filesHolding(d.datadir, paid.preimage), []);
    });

    it('the stopped state holds neither preimage, in any entry or file', async () => {
      ch.close();
      await d.kill();
      const text = await stateText(d.netdir);
      assert.match(text, /preimage_sealed/);
      for (const p of [paidPreimage, lockedPreimage]) {
        assert.ok(!text.includes(p), 'no entry holds it');
        assert.deepEqual(await filesHolding(d.datadir, p), []);
      }
    });

    it('a sealed value moved into another payment record does not open there (backend and hash are the purpose)', async () => {
      const store = await Store.open(join(d.netdir, 'state'));
      const raw = store.db.sublevel<string, unknown>('lightning', { valueEncoding: 'json' });
      const hashes: string[] = [];
      for await (const k of raw.keys({ gte: 'cln:pay:', lt: 'cln:pay;' })) hashes.push(k.slice('cln:pay:'.length));
      assert.equal(hashes.length, 2);
      const [x, y] = (await Promise.all(hashes.map((h) => raw.get(`cln:pay:${h}`)))) as Array<Payment & { preimage_sealed: string }>;
      // Same keys, values changed in place: the record counts still agree, so anyad starts on it as it is.
      await raw.put(`cln:pay:${x!.payment_hash}`, { ...x, preimage_sealed: y!.preimage_sealed });
      await raw.put(`cln:pay:${y!.payment_hash}`, { ...y, preimage_sealed: x!.preimage_sealed });
      await store.close();
      await a.stop(); // no node to fall back on: only the swapped sealed values
      try {
        d = await startDaemon(d.datadir, { args: [...keystoreArgs, ...lnArgs()] });
        ch = await unixChannel(d.socket);
        const listed = await call<Payments>(ch, 'ln.listpayments');
        assert.equal(listed.payments.length, 2);
        for (const p of listed.payments) assert.equal(p.preimage, undefined, `no preimage for ${p.payment_hash}: its sealed value is another's`);
      } finally {
        await a.start();
      }
    });
  });

  it('a record an earlier anyad wrote in clear is migrated and sealed at start, compacted out of the files, and still answered', async () => {
    const datadir = join(dir.path, 'anya-old');
    const { hash, preimage } = randomPayment();
    const netdir = await oldState(datadir, [{ hash, preimage }]);
    assert.notDeepEqual(await filesHolding(datadir, preimage), [], 'the clear record is on disk to begin with');

    const d = await startDaemon(datadir, { args: [...keystoreArgs, ...lnArgs()] });
    const ch = await unixChannel(d.socket);
    try {
      await d.waitForLog((l) => l.msg === 'payment preimages sealed by the HSM room');
      // The node never made this payment: the answer can only come from the resealed record.
      const listed = await call<Payments>(ch, 'ln.listpayments');
      assert.equal(listed.payments.find((p) => p.payment_hash === hash)?.preimage, preimage);
      assert.deepEqual(await filesHolding(datadir, preimage), [], 'the clear copy left the LevelDB files');
    } finally {
      await closeAll(ch, d);
    }
    const text = await stateText(netdir);
    assert.ok(!text.includes(preimage));
    assert.ok(!text.includes(`cln:reseal:${hash}`), 'nothing waits any more');
    // And it opens again after a restart.
    const d2 = await startDaemon(datadir, { args: [...keystoreArgs, ...lnArgs()] });
    const ch2 = await unixChannel(d2.socket);
    try {
      const listed = await call<Payments>(ch2, 'ln.listpayments');
      assert.equal(listed.payments.find((p) => p.payment_hash === hash)?.preimage, preimage);
    } finally {
      await closeAll(ch2, d2);
    }
  });

  it('no HSM room: no preimage kept (the node holds the proof); answered from the node, absent while it is away', async () => {
    const d = await startDaemon(join(dir.path, 'anya-nohsm'), { args: lnArgs() });
    const ch = await unixChannel(d.socket);
    try {
      assert.ok(
        d.logs.some((l) => /anyad keeps no payment preimages/.test(l.msg)),
        'said loudly at start',
      );
      const inv = await invoice();
      const paid = await call<{ status: string; preimage: string }>(ch, 'ln.pay', { invoice: inv.bolt11 });
      assert.equal(paid.status, 'complete');
      const listed = await call<Payments>(ch, 'ln.listpayments');
      assert.equal(listed.payments.find((p) => p.payment_hash === inv.payment_hash)?.preimage, paid.preimage);
      assert.deepEqual(await filesHolding(d.datadir, paid.preimage), []);
      const bk = await call<{ path: string }>(ch, 'backup', ['nohsm.backup']);
      assert.ok((await stat(bk.path)).size > 0);
      assert.equal(await backupHolds(bk.path, paid.preimage), false);
      await a.stop();
      try {
        const stale = await until('the node seen gone', async () => {
          const r = await call<Payments>(ch, 'ln.listpayments');
          return r.stale ? r : undefined;
        });
        const rec = stale.payments.find((p) => p.payment_hash === inv.payment_hash)!;
        assert.deepEqual([rec.status, rec.preimage], ['complete', undefined], 'paid, the proof is with the node');
      } finally {
        await a.start();
      }
    } finally {
      await closeAll(ch, d);
    }
  });

  it('no HSM room, a clear record of an earlier anyad: dropped once the node shows the same proof; one the node lacks stays readable', async () => {
    const datadir = join(dir.path, 'anya-old-nohsm');
    // One payment the node made (its listpays has the preimage), one it has no record of.
    const inv = await invoice();
    const payer = new ClnClient(a.socketPath, 5000);
    const made = await payer.call<{ payment_preimage: string }>('pay', { bolt11: inv.bolt11 });
    payer.close();
    const lost = randomPayment();
    await oldState(datadir, [{ hash: inv.payment_hash, preimage: made.payment_preimage }, lost]);
    const d = await startDaemon(datadir, { args: lnArgs() });
    const ch = await unixChannel(d.socket);
    try {
      await until('the clear copy the node also holds gone from the files', async () =>
        (await filesHolding(datadir, made.payment_preimage)).length === 0 ? true : undefined,
      );
      const listed = await call<Payments>(ch, 'ln.listpayments');
      assert.equal(listed.payments.find((p) => p.payment_hash === inv.payment_hash)?.preimage, made.payment_preimage, 'read from the node');
      assert.equal(listed.payments.find((p) => p.payment_hash === lost.hash)?.preimage, lost.preimage, 'the only proof is kept');
    } finally {
      await closeAll(ch, d);
    }
  });

  it('over LND: the preimage sealed, in no file, and opened from the record while LND is away', async () => {
    const l = new LndPeer(net, dir.path, 'lnd-payer');
    await l.start();
    net.connect(l, b.id);
    const args = [
      ...keystoreArgs,
      '-lnd.enable',
      `-lnd.socket=${l.socket}`,
      `-lnd.tlscertpath=${l.certPath}`,
      `-lnd.macaroonpath=${l.macaroonPath}`,
      '-nobitcoind.enable',
      '-noml.enable',
      '-ln.watchinterval=100',
    ];
    const d = await startDaemon(join(dir.path, 'anya-lnd'), { alsoWaitFor: lndSettled, args });
    const ch = await unixChannel(d.socket);
    try {
      const inv = await invoice();
      const paid = await call<{ status: string; preimage: string }>(ch, 'ln.pay', { invoice: inv.bolt11 });
      assert.equal(paid.status, 'complete');
      assert.deepEqual(await filesHolding(d.datadir, paid.preimage), []);
      await l.stop();
      const stale = await until('LND seen gone', async () => {
        const r = await call<Payments>(ch, 'ln.listpayments');
        return r.stale ? r : undefined;
      });
      assert.equal(stale.payments.find((p) => p.payment_hash === inv.payment_hash)?.preimage, paid.preimage);
    } finally {
      await closeAll(ch, d, l);
    }
  });
});
