// The Lightning room with LND test peers (test/peers/lnd-peer: gRPC over TLS from the `lightning` package's protos,
// macaroons checked by HMAC, signed BOLT11; see its header for what it does not prove), driven through anyad's RPC:
// an invoice made on B, paid from A, reaches a WebSocket subscriber as ln.invoice settled; anyad paying through A;
// clear errors; a wrong macaroon, a wrong certificate and a locked wallet named in health; LND stopped and
// restarted; an invoice settled while anyad was down reported exactly once; both backends in one anyad.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as ln from 'ln-service';
import { LIGHTNING_MIGRATIONS } from '../../src/adapters/lightning/records.js';
import { Store } from '../../src/store/store.js';
import { lndSettled, startDaemon, tempDir, type RunningDaemon } from '../helpers/daemon.js';
import { checkLayer2Face } from '../helpers/layer2.js';
import { call, channelsWithEvents, closeAll, nextEvent, unixChannel, wsChannel, type Channel } from '../helpers/channel.js';
import { ClnPeer } from '../peers/cln-peer.js';
import { LnNetwork } from '../peers/ln-network.js';
import { LndPeer } from '../peers/lnd-peer.js';
import { until } from '../helpers/until.js';

const lndArgs = (p: LndPeer, over: { cert?: string; macaroon?: string } = {}): string[] => [
  '-lnd.enable',
  `-lnd.socket=${p.socket}`,
  `-lnd.tlscertpath=${over.cert ?? p.certPath}`,
  `-lnd.macaroonpath=${over.macaroon ?? p.macaroonPath}`,
  '-nobitcoind.enable',
  '-noml.enable',
];

/** ln-service straight to a peer, as another app on the box would pay. */
async function payDirect(from: LndPeer, bolt11: string): Promise<void> {
  const { lnd } = ln.authenticatedLndGrpc({
    cert: (await readFile(from.certPath)).toString('base64'),
    macaroon: (await readFile(from.macaroonPath)).toString('hex'),
    socket: from.socket,
  });
  await ln.payViaPaymentRequest({ lnd, request: bolt11 });
}

/** Reads and drops what a channel has received until it has been quiet for quietMs. */
async function drain(ch: Channel, quietMs = 200): Promise<void> {
  for (;;) {
    try {
      await ch.next(quietMs);
    } catch {
      return;
    }
  }
}

async function l2Health(ch: Channel): Promise<{ backend: string; state: string; detail: string }[]> {
  return call(ch, 'l2.health');
}

describe('Lightning over LND test peers', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let net: LnNetwork;
  let a: LndPeer;
  let b: LndPeer;
  let d: RunningDaemon;
  let ws: Channel;
  let ch: Channel;

  before(async () => {
    dir = await tempDir();
    net = new LnNetwork();
    a = new LndPeer(net, dir.path, 'alice');
    b = new LndPeer(net, dir.path, 'bob');
    await a.start();
    await b.start();
    // A pays B directly in several tests: make them peers.
    net.connect(a, b.id);
    d = await startDaemon(join(dir.path, 'anya-b'), { alsoWaitFor: lndSettled, args: lndArgs(b) });
    ({ ch, ws } = await channelsWithEvents(d, ['ln.*']));
  });
  after(() => closeAll(ch, ws, d, a, b, dir));

  it('getinfo, balance, the Layer2 registry', async () => {
    const info = await call<{ backend: string; id: string; alias: string; network: string; block_height: number }>(ch, 'ln.getinfo');
    assert.deepEqual([info.backend, info.id, info.alias, info.network, info.block_height], ['lnd', b.id, 'bob', 'regtest', 300]);
    const bal = await call<{ onchain_confirmed_sat: number; onchain_unconfirmed_sat: number; channel_local_msat: number }>(ch, 'ln.balance');
    assert.deepEqual(bal, { onchain_confirmed_sat: 5_000_000, onchain_unconfirmed_sat: 0, channel_local_msat: 0 });
    const l2 = await call<Array<{ protocol: string; backend: string; state: string; summary: { id: string } }>>(ch, 'l2.list');
    assert.deepEqual(
      l2.map((x) => [x.protocol, x.backend, x.state, x.summary.id]),
      [['lightning', 'lnd', 'ok', b.id]],
    );
    const health = await l2Health(ch);
    assert.match(health[0]!.detail, /connected to LND 0\.20\.0-beta/);
  });

  it('an invoice created on B through anyad, paid from A, arrives as ln.invoice settled on the WebSocket', async () => {
    const inv = await call<{ payment_hash: string; bolt11: string; label: string; expires_at: number }>(ch, 'ln.createinvoice', {
      amount_msat: 150_000,
      description: 'coffee',
      label: 'order-1',
    });
    assert.equal(inv.label, 'order-1');
    const created = await nextEvent(ws, 'ln.invoice', (x) => x.status === 'created');
    assert.deepEqual([created.payment_hash, created.backend, created.label], [inv.payment_hash, 'lnd', 'order-1']);
    const decoded = await call<{ payee: string; amount_msat: number; payment_hash: string; description: string; expires_at: number }>(ch, 'ln.decode', {
      invoice: inv.bolt11,
    });
    assert.deepEqual([decoded.payee, decoded.amount_msat, decoded.payment_hash, decoded.description], [b.id, 150_000, inv.payment_hash, 'coffee']);
    assert.ok(Math.abs(decoded.expires_at - inv.expires_at) <= 2);
    await payDirect(a, inv.bolt11);
    const settled = await nextEvent(ws, 'ln.invoice', (x) => x.status === 'settled');
    assert.deepEqual([settled.payment_hash, settled.amount_received_msat, settled.label, settled.settle_index], [inv.payment_hash, 150_000, 'order-1', 1]);
    const looked = await call<{ status: string; label: string; amount_received_msat: number }>(ch, 'ln.lookupinvoice', { payment_hash: inv.payment_hash });
    assert.deepEqual([looked.status, looked.label, looked.amount_received_msat], ['paid', 'order-1', 150_000]);
    const list = await call<{ backend: string; stale: boolean; invoices: Array<{ payment_hash: string; status: string }> }>(ch, 'ln.listinvoices');
    assert.deepEqual([list.backend, list.stale], ['lnd', false]);
    const first = await call<{ total: number; invoices: Array<{ payment_hash: string }> }>(ch, 'ln.listinvoices', { limit: 1 });
    assert.deepEqual([first.total, first.invoices.length], [list.invoices.length, 1]);
    const tooMany = await ch.call('ln.listinvoices', { limit: 100_000 });
    assert.equal(tooMany.error?.code, -32602);
    assert.equal(list.invoices.find((i) => i.payment_hash === inv.payment_hash)!.status, 'paid');
  });

  it('an invoice made on the node by another program is reported as created', async () => {
    const { lnd } = ln.authenticatedLndGrpc({
      cert: (await readFile(b.certPath)).toString('base64'),
      macaroon: (await readFile(b.macaroonPath)).toString('hex'),
      socket: b.socket,
    });
    const inv = await ln.createInvoice({ lnd, description: 'elsewhere', mtokens: '5000' });
    const ev = await nextEvent(ws, 'ln.invoice', (x) => x.status === 'created');
    assert.deepEqual([ev.payment_hash, ev.label, ev.amount_msat, ev.add_index], [inv.id, '', 5000, b.invoices.length]);
  });

  it('an invoice canceled on the node is reported as ln.invoice canceled', async () => {
    const inv = await call<{ payment_hash: string }>(ch, 'ln.createinvoice', { amount_msat: null, description: 'any amount' });
    b.cancel(inv.payment_hash);
    const ev = await nextEvent(ws, 'ln.invoice', (x) => x.status === 'canceled');
    assert.equal(ev.payment_hash, inv.payment_hash);
    const looked = await call<{ status: string; amount_msat: number | null }>(ch, 'ln.lookupinvoice', { payment_hash: inv.payment_hash });
    assert.deepEqual([looked.status, looked.amount_msat], ['canceled', null]);
  });

  it('anyad pays through A: peers, channels, ln.payment, fee cap, records', async () => {
    const da = await startDaemon(join(dir.path, 'anya-a'), { alsoWaitFor: lndSettled, args: [...lndArgs(a), '-ln.watchinterval=100'] });
    const ca = await unixChannel(da.socket);
    try {
      await call(ca, 'subscribe', { topics: ['ln.payment', 'ln.peer', 'ln.channel'] });
      const c = new ClnPeer(net, join(dir.path, 'c.rpc'), 'carol');
      await c.start();
      await call(ca, 'ln.connect', { id: c.id, host: '127.0.0.1', port: 9735 });
      assert.equal((await nextEvent(ca, 'ln.peer')).id, c.id);
      const peers = await call<Array<{ id: string; connected: boolean }>>(ca, 'ln.listpeers');
      assert.ok(peers.some((p) => p.id === c.id && p.connected));
      const opened = await call<{ channel_id: string; txid: string }>(ca, 'ln.openchannel', { peer: b.id, amount_sat: 1_000_000 });
      assert.equal(opened.channel_id, `${opened.txid}:0`);
      const ev = await nextEvent(ca, 'ln.channel');
      assert.deepEqual([ev.status, ev.channel_id, ev.short_channel_id, ev.peer], ['pending', opened.channel_id, null, b.id]);
      const waiting = await call<Array<{ channel_id: string; state: string; active: boolean }>>(ca, 'ln.listchannels');
      assert.deepEqual(
        waiting.map((x) => [x.channel_id, x.state, x.active]),
        [[opened.channel_id, 'pending_open', false]],
      );
      a.confirmChannels(); // the funding transaction confirms
      const open = await nextEvent(ca, 'ln.channel');
      assert.deepEqual([open.status, open.short_channel_id], ['opened', '300x1x0']);
      assert.equal((await nextEvent(ca, 'ln.channel')).status, 'active');
      const chans = await call<
        Array<{ channel_id: string; short_channel_id: string; peer: string; capacity_sat: number; local_msat: number; active: boolean }>
      >(ca, 'ln.listchannels');
      assert.deepEqual(
        chans.map((x) => [x.channel_id, x.short_channel_id, x.peer, x.capacity_sat, x.local_msat, x.active]),
        [[opened.channel_id, '300x1x0', b.id, 1_000_000, 1_000_000_000, true]],
      );
      assert.equal((await call<{ channel_local_msat: number }>(ca, 'ln.balance')).channel_local_msat, 1_000_000_000);
      const broke = await ca.call('ln.openchannel', { peer: b.id, amount_sat: 9_000_000 });
      assert.equal(broke.error?.code, -32016);
      assert.match(broke.error!.message, /not enough witness outputs/);
      assert.equal((broke.error!.data as { kind: string }).kind, 'insufficient_funds');

      const inv = await call<{ bolt11: string; payment_hash: string }>(ch, 'ln.createinvoice', { amount_msat: 2_000_000, description: 'tea' });
      const capped = await ca.call('ln.pay', { invoice: inv.bolt11, max_fee_msat: 1 });
      assert.equal(capped.error?.code, -32016);
      assert.match(capped.error!.message, /PaymentPathfindingFailedToFindPossibleRoute/);
      assert.equal((capped.error!.data as { kind: string }).kind, 'no_route', 'LND reports a fee cap it cannot meet as no route');
      assert.equal((await nextEvent(ca, 'ln.payment')).status, 'failed');
      const paid = await call<{ status: string; amount_msat: number; fee_msat: number; preimage: string }>(ca, 'ln.pay', {
        invoice: inv.bolt11,
        max_fee_msat: 1000,
      });
      assert.deepEqual([paid.status, paid.amount_msat, paid.fee_msat], ['complete', 2_000_000, 200]);
      assert.match(paid.preimage, /^[0-9a-f]{64}$/);
      assert.equal((await nextEvent(ca, 'ln.payment')).status, 'succeeded');
      // Keysend to B: anyad's preimage goes in LND's record 5482373484; B's LND keeps a settled keysend invoice.
      const ks = await call<{ payment_hash: string; status: string; amount_msat: number; fee_msat: number; preimage: string }>(ca, 'ln.keysend', {
        destination: b.id,
        amount_msat: 4_000_000,
        max_fee_msat: 1000,
      });
      assert.deepEqual([ks.status, ks.amount_msat, ks.fee_msat], ['complete', 4_000_000, 400]);
      assert.equal(createHash('sha256').update(Buffer.from(ks.preimage, 'hex')).digest('hex'), ks.payment_hash);
      assert.equal((await nextEvent(ca, 'ln.payment')).status, 'succeeded');
      const got = await call<{ status: string; keysend?: boolean; amount_received_msat: number; bolt11: string }>(ch, 'ln.lookupinvoice', {
        payment_hash: ks.payment_hash,
      });
      assert.deepEqual([got.status, got.keysend, got.amount_received_msat, got.bolt11], ['paid', true, 4_000_000, '']);
      const kept = await call<{ payments: Array<{ payment_hash: string; destination?: string; bolt11: string }> }>(ca, 'ln.listpayments');
      assert.deepEqual(
        kept.payments.filter((p) => p.payment_hash === ks.payment_hash).map((p) => [p.destination, p.bolt11]),
        [[b.id, '']],
      );
      // A payee without --accept-keysend fails it back: anyad passes the refusal on and records the failure.
      b.acceptKeysend = false;
      const refused = await ca.call('ln.keysend', { destination: b.id, amount_msat: 1_000 });
      b.acceptKeysend = true;
      assert.equal(refused.error?.code, -32016, JSON.stringify(refused.error));
      assert.equal((refused.error!.data as { kind: string }).kind, 'rejected_by_destination');
      assert.equal((await nextEvent(ca, 'ln.payment')).status, 'failed');
      const again = await ca.call('ln.pay', { invoice: inv.bolt11 });
      assert.equal(again.error?.code, -32014);
      assert.match(again.error!.message, /already paid through anyad/);
      // Paid by someone else first: the node refuses, and anyad passes its refusal on.
      const taken = await call<{ bolt11: string }>(ch, 'ln.createinvoice', { amount_msat: 3_000, description: 'taken' });
      await payDirect(a, taken.bolt11);
      const late = await ca.call('ln.pay', { invoice: taken.bolt11 });
      assert.equal(late.error?.code, -32016);
      assert.match(late.error!.message, /PaymentRejectedByDestination/);
      assert.equal((late.error!.data as { kind: string }).kind, 'rejected_by_destination');

      // LND pays a Core Lightning node's invoice across the shared test network.
      const { ClnClient } = await import('../../src/adapters/lightning/cln-client.js');
      const cc = new ClnClient(c.socketPath, 5000);
      const cinv = await cc.call<{ bolt11: string; payment_hash: string }>('invoice', { amount_msat: 5000, label: 'x', description: 'from lnd' });
      cc.close();
      await call(ca, 'ln.pay', { invoice: cinv.bolt11 });
      assert.equal(c.invoices[0]!.status, 'paid');
      // A second channel, with C: closed by force once C is gone (below).
      const withC = await call<{ channel_id: string }>(ca, 'ln.openchannel', { peer: c.id, amount_sat: 100_000 });
      a.confirmChannels();
      await nextEvent(ca, 'ln.channel', (x) => x.channel_id === withC.channel_id && x.status === 'active');
      // Changes anyad did not make are reported too: C goes away.
      await c.stop();
      const gone = await nextEvent(ca, 'ln.peer', (x) => x.status === 'disconnected');
      assert.equal(gone.id, c.id);

      // The same payment through the Layer2 face every adapter shows.
      await checkLayer2Face(ch, ca);
      const pays = await call<{ payments: Array<{ payment_hash: string; status: string; fee_msat: number | null }> }>(ca, 'ln.listpayments');
      assert.deepEqual(
        pays.payments.filter((p) => p.payment_hash === inv.payment_hash).map((p) => [p.status, p.fee_msat]),
        [['complete', 200]],
        'a refused second attempt does not overwrite the proof of payment',
      );
      const closed = await call<{ type: string; txid: string }>(ca, 'ln.closechannel', { channel: '300x1x0' });
      assert.equal(closed.type, 'mutual');
      assert.equal((await nextEvent(ca, 'ln.channel', (x) => x.channel_id === opened.channel_id)).status, 'closed');
      assert.deepEqual(
        (await call<Array<{ channel_id: string }>>(ca, 'ln.listchannels')).map((x) => x.channel_id),
        [withC.channel_id],
      );
      const twice = await ca.call('ln.closechannel', { channel: opened.channel_id });
      assert.equal(twice.error?.code, -32011);

      // C is offline: LND cannot close cooperatively and says so; forced, it broadcasts its commitment and the
      // channel waits for it to confirm (closing), then cannot be closed again.
      const coop = await ca.call('ln.closechannel', { channel: withC.channel_id });
      assert.match(coop.error?.message ?? '', /while peer is offline \(try force closing it instead\)/);
      const forced = await call<{ type: string; txid: string }>(ca, 'ln.closechannel', { channel: withC.channel_id, force: true });
      assert.equal(forced.type, 'unilateral');
      assert.match(forced.txid, /^[0-9a-f]{64}$/);
      assert.equal((await nextEvent(ca, 'ln.channel', (x) => x.channel_id === withC.channel_id)).status, 'closing');
      assert.deepEqual(
        (await call<Array<{ channel_id: string; state: string }>>(ca, 'ln.listchannels')).map((x) => [x.channel_id, x.state]),
        [[withC.channel_id, 'closing']],
      );
      assert.equal((await ca.call('ln.closechannel', { channel: withC.channel_id, force: true })).error?.code, -32011);
      // Two channels with B: its peer id names neither (no pick among several), each closes by its channel point.
      const twoB = [
        await call<{ channel_id: string }>(ca, 'ln.openchannel', { peer: b.id, amount_sat: 100_000 }),
        await call<{ channel_id: string }>(ca, 'ln.openchannel', { peer: b.id, amount_sat: 100_000 }),
      ];
      a.confirmChannels();
      const ambiguous = await ca.call('ln.closechannel', { channel: b.id, force: true });
      assert.equal(ambiguous.error?.code, -32602);
      assert.match(ambiguous.error!.message, new RegExp(`2 channels with peer ${b.id}: name one by its channel point`));
      for (const x of twoB) assert.equal((await call<{ type: string }>(ca, 'ln.closechannel', { channel: x.channel_id })).type, 'mutual');
    } finally {
      ca.close();
      await da.kill();
    }
  });

  it("a payment whose outcome anyad missed (killed mid-payment) is settled from LND's record when it is back", async () => {
    const datadir = join(dir.path, 'anya-crash');
    const args = [...lndArgs(a), '-ln.watchinterval=100'];
    const dx = await startDaemon(datadir, { alsoWaitFor: lndSettled, args });
    const cx = await unixChannel(dx.socket);
    const inv = await call<{ bolt11: string; payment_hash: string }>(ch, 'ln.createinvoice', { amount_msat: 12_000, description: 'crash' });
    a.holdPayments = true;
    void cx.call('ln.pay', { invoice: inv.bolt11 }).catch(() => undefined); // never answered: anyad dies first
    await until('the payment in flight', async () => {
      const r = await call<{ payments: Array<{ payment_hash: string; status: string }> }>(cx, 'ln.listpayments');
      return r.payments.some((x) => x.payment_hash === inv.payment_hash && x.status === 'pending') ? true : undefined;
    });
    const busy = await cx.call('ln.pay', { invoice: inv.bolt11 });
    assert.equal(busy.error?.code, -32014);
    assert.match(busy.error!.message, /still in progress/);
    cx.close();
    await dx.kill('SIGKILL');
    a.release(); // the node finishes the payment while anyad is gone
    const dy = await startDaemon(datadir, { alsoWaitFor: lndSettled, args });
    const cy = await unixChannel(dy.socket);
    try {
      const rec = await until('the outcome read from LND', async () => {
        const r = await call<{ payments: Array<{ payment_hash: string; status: string; preimage?: string; fee_msat: number | null }> }>(cy, 'ln.listpayments');
        const x = r.payments.find((y) => y.payment_hash === inv.payment_hash);
        return x?.status === 'complete' ? x : undefined;
      });
      assert.match(rec.preimage!, /^[0-9a-f]{64}$/);
      assert.equal(rec.fee_msat, 2);
      const again = await cy.call('ln.pay', { invoice: inv.bolt11 });
      assert.equal(again.error?.code, -32014);
    } finally {
      await closeAll(cy, dy);
    }
  });

  it('bad invoices, unknown peers, a missing host and an unconfigured backend are clear errors', async () => {
    const bad = await ch.call('ln.decode', { invoice: 'lnbcrt1notaninvoice' });
    assert.equal(bad.error?.code, -32602);
    assert.match(bad.error!.message, /invoice: not a valid BOLT11 invoice/);
    const mainnet = await ch.call('ln.decode', {
      invoice:
        'lnbc1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdpl2pkx2ctnv5sxxmmwwd5kgetjypeh2ursdae8g6twvus8g6rfwvs8qun0dfjkxaq8rkx3yf5tcsyz3d73gafnh3cax9rn449d9p5uxz9ezhhypd0elx87sjle52x86fux2ypatgddc6k63n7erqz25le42c4u4ecky03ylcqca784w',
    });
    assert.equal(mainnet.error?.code, -32602);
    assert.match(mainnet.error!.message, /it is for bitcoin, but anyad runs on regtest/);
    const shape = await ch.call('ln.pay', { invoice: 'hello' });
    assert.equal(shape.error?.code, -32602);
    const unknown = await ch.call('ln.connect', { id: `02${'11'.repeat(32)}`, host: '127.0.0.1' });
    assert.equal(unknown.error?.code, -32016);
    assert.match(unknown.error!.message, /connection refused/);
    assert.equal((unknown.error!.data as { kind: string }).kind, 'peer_unreachable');
    const nohost = await ch.call('ln.connect', { id: a.id });
    assert.equal(nohost.error?.code, -32602);
    assert.match(nohost.error!.message, /needs the peer's host/);
    const other = await ch.call('ln.getinfo', { backend: 'cln' });
    assert.equal(other.error?.code, -32602);
    assert.match(other.error!.message, /backend 'cln' is not configured \(configured: lnd\)/);
    const missing = await ch.call('ln.lookupinvoice', { payment_hash: 'ab'.repeat(32) });
    assert.equal(missing.error?.code, -32011);
  });

  it('a wrong macaroon, a wrong certificate, a missing file and another network are named in health', async () => {
    const wrongMac = join(dir.path, 'wrong.macaroon');
    await writeFile(wrongMac, b.mintMacaroon(Buffer.alloc(32, 7)));
    const cases: Array<[string[], RegExp]> = [
      [lndArgs(b, { macaroon: wrongMac }), /refused the macaroon at .*wrong\.macaroon: verification failed/],
      [lndArgs(b, { cert: a.certPath }), /TLS with LND at localhost:\d+ failed.*self-signed certificate/],
      [lndArgs(b, { macaroon: join(dir.path, 'nope.macaroon') }), /cannot read lnd\.macaroonpath .*nope\.macaroon: ENOENT/],
    ];
    const testnet = new LndPeer(net, dir.path, 'tessa');
    testnet.chain = { chain: 'bitcoin', network: 'testnet' };
    await testnet.start();
    cases.push([lndArgs(testnet), /LND serves chain 43497fd7f826957108f4a30fd9cec3aeba79972084e90ead01ea330900000000, not anyad's regtest; refusing/]);
    for (const [args, reason] of cases) {
      const dx = await startDaemon(join(dir.path, `anya-bad-${cases.findIndex((c) => c[0] === args)}`), { alsoWaitFor: lndSettled, args });
      const cx = await unixChannel(dx.socket);
      try {
        const [h] = await l2Health(cx);
        assert.equal(h!.state, 'failed');
        assert.match(h!.detail, reason);
        const r = await cx.call('ln.getinfo');
        assert.equal(r.error?.code, -32010);
        assert.match(r.error!.message, reason);
        assert.ok(!JSON.stringify(r).includes((await readFile(b.macaroonPath)).toString('hex')), 'the macaroon is never in an answer');
      } finally {
        cx.close();
        await dx.kill();
      }
    }
    await testnet.stop();
  });

  it('an LND still syncing to the chain is degraded, and answers; a macaroon others can read is warned about', async () => {
    const sam = new LndPeer(net, dir.path, 'sam');
    sam.synced = false;
    await chmod(sam.macaroonPath, 0o644);
    await sam.start();
    const dx = await startDaemon(join(dir.path, 'anya-syncing'), { alsoWaitFor: lndSettled, args: lndArgs(sam) });
    const cx = await unixChannel(dx.socket);
    try {
      const warned = await dx.waitForLog((l) => /macaroon is readable by every user/.test(String(l.msg)));
      assert.equal(warned.mode, '644');
      assert.ok(!JSON.stringify(warned).includes((await readFile(sam.macaroonPath)).toString('hex')));
      const [h] = await l2Health(cx);
      assert.equal(h!.state, 'degraded');
      assert.match(h!.detail, /not yet synced to the chain/);
      assert.equal((await call<{ id: string }>(cx, 'ln.getinfo')).id, sam.id);
    } finally {
      await closeAll(cx, dx, sam);
    }
  });

  it('a locked wallet is reported, and anyad connects once it is unlocked', async () => {
    b.locked = true;
    await b.stop();
    await b.start();
    await until('locked in health', async () => ((await l2Health(ch))[0]!.detail.includes('locked') ? true : undefined));
    const r = await ch.call('ln.getinfo');
    assert.equal(r.error?.code, -32010);
    assert.match(r.error!.message, /wallet is locked/);
    b.locked = false;
    await until('reconnected after unlock', async () => ((await ch.call('ln.getinfo')).error ? undefined : true));
  });

  it('LND stopped: fast BackendUnavailable, records still listed as stale; restarted: reconnects, replays nothing twice', async () => {
    await drain(ws);
    await b.stop();
    const r = await until('unavailable', async () => {
      const x = await ch.call('ln.getinfo');
      return x.error?.code === -32010 ? x : undefined;
    });
    assert.match(r.error!.message, /not reachable|not connected/);
    const list = await call<{ stale: boolean; invoices: unknown[] }>(ch, 'ln.listinvoices');
    assert.equal(list.stale, true);
    assert.ok(list.invoices.length >= 2);
    const rec = await call<{ stale: boolean; status: string }>(ch, 'ln.lookupinvoice', {
      payment_hash: list.invoices.map((i) => (i as { payment_hash: string }).payment_hash)[0]!,
    });
    assert.equal(rec.stale, true);
    await b.start();
    await until('reconnected', async () => ((await ch.call('ln.getinfo')).error ? undefined : true));
    // The stream is back too: a new settlement arrives.
    const inv = await call<{ bolt11: string; payment_hash: string }>(ch, 'ln.createinvoice', { amount_msat: 7_000, description: 'after restart' });
    await payDirect(a, inv.bolt11);
    const ev = await nextEvent(ws, 'ln.invoice', (x) => x.status === 'settled');
    assert.deepEqual([ev.payment_hash, ev.amount_received_msat], [inv.payment_hash, 7_000], 'the resubscribed stream replays no settlement already reported');
  });

  it('an invoice settled while anyad was down is reported exactly once after it comes back', async () => {
    const inv = await call<{ bolt11: string; payment_hash: string }>(ch, 'ln.createinvoice', { amount_msat: 42_000, description: 'while down' });
    ch.close();
    ws.close();
    await d.kill();
    await payDirect(a, inv.bolt11);
    const { lnd } = ln.authenticatedLndGrpc({
      cert: (await readFile(b.certPath)).toString('base64'),
      macaroon: (await readFile(b.macaroonPath)).toString('hex'),
      socket: b.socket,
    });
    await ln.createInvoice({ lnd, description: 'made while down' });
    const addedWhileDown = b.invoices.length;
    d = await startDaemon(d.datadir, { alsoWaitFor: lndSettled, args: lndArgs(b) });
    ch = await unixChannel(d.socket);
    await until('the invoice made while anyad was down, reported as created', async () => {
      const [l2] = await call<Array<{ summary: { cursors?: { add_index?: number } } }>>(ch, 'l2.list');
      return (l2!.summary.cursors?.add_index ?? 0) >= addedWhileDown ? true : undefined;
    });
    await until('the settlement made while anyad was down', async () => {
      const list = await call<{ invoices: Array<{ payment_hash: string; status: string }> }>(ch, 'ln.listinvoices');
      return list.invoices.find((x) => x.payment_hash === inv.payment_hash)?.status === 'paid' ? true : undefined;
    });
    ws = await wsChannel(d.wsUrl!, await d.cookie());
    await call(ws, 'subscribe', { topics: ['ln.invoice'] });
    const another = await call<{ bolt11: string; payment_hash: string }>(ch, 'ln.createinvoice', { amount_msat: 1_000, description: 'after' });
    await payDirect(a, another.bolt11);
    const made = await nextEvent(ws, 'ln.invoice', (x) => x.status === 'created');
    assert.equal(made.payment_hash, another.payment_hash, 'earlier creations are not reported again');
    const ev = await nextEvent(ws, 'ln.invoice', (x) => x.status === 'settled');
    assert.equal(ev.payment_hash, another.payment_hash, 'the old settlement is not reported again');
    await assert.rejects(
      nextEvent(ws, 'ln.invoice', (x) => x.status === 'settled', 300),
      /timeout/,
    );
  });

  it('both backends in one anyad: the backend param picks, ln.default decides when none is named', async () => {
    const c = new ClnPeer(net, join(dir.path, 'c2.rpc'), 'carol');
    await c.start();
    const both = [...lndArgs(a), '-cln.enable', `-cln.rpcfile=${c.socketPath}`];
    const dx = await startDaemon(join(dir.path, 'anya-both'), { alsoWaitFor: lndSettled, args: both });
    const cx = await unixChannel(dx.socket);
    try {
      const none = await cx.call('ln.getinfo');
      assert.equal(none.error?.code, -32602);
      assert.match(none.error!.message, /two Lightning backends are configured \(cln, lnd\)/);
      assert.equal((await call<{ id: string }>(cx, 'ln.getinfo', { backend: 'cln' })).id, c.id);
      assert.equal((await call<{ id: string }>(cx, 'ln.getinfo', { backend: 'lnd' })).id, a.id);
      const l2 = await call<Array<{ backend: string; state: string }>>(cx, 'l2.list');
      assert.deepEqual(l2.map((x) => [x.backend, x.state]).sort(), [
        ['cln', 'ok'],
        ['lnd', 'ok'],
      ]);
      // Records are kept apart per backend.
      await call(cx, 'ln.createinvoice', { amount_msat: 1000, description: 'on cln', backend: 'cln' });
      assert.equal((await call<{ invoices: unknown[] }>(cx, 'ln.listinvoices', { backend: 'cln' })).invoices.length, 1);
      assert.equal((await call<{ invoices: unknown[] }>(cx, 'ln.listinvoices', { backend: 'lnd' })).invoices.length, 0);
    } finally {
      cx.close();
      await dx.kill();
    }
    const dy = await startDaemon(join(dir.path, 'anya-both'), { alsoWaitFor: lndSettled, args: [...both, '-ln.default=cln'] });
    const cy = await unixChannel(dy.socket);
    try {
      assert.equal((await call<{ backend: string }>(cy, 'ln.getinfo')).backend, 'cln');
    } finally {
      cy.close();
      await dy.kill();
      await c.stop();
    }
  });
});

describe('lightning room state from the first build', () => {
  it('moves unprefixed Core Lightning records and cursor under cln:, and indexes a pending payment', async () => {
    const dir = await tempDir();
    try {
      const store = await Store.open(join(dir.path, 'state'));
      const raw = store.db.sublevel<string, unknown>('lightning', { valueEncoding: 'json' });
      await raw.put('inv:aa', { payment_hash: 'aa', status: 'paid' });
      await raw.put('pay:bb', { payment_hash: 'bb', status: 'complete' });
      await raw.put('pay:cc', { payment_hash: 'cc', status: 'pending' });
      await raw.put('cursor:pay_index', 7);
      const db = await store.room('lightning', LIGHTNING_MIGRATIONS);
      const keys: string[] = [];
      for await (const k of db.keys()) keys.push(k);
      assert.deepEqual(keys.sort(), ['cln:cursor:pay_index', 'cln:inv:aa', 'cln:pay:bb', 'cln:pay:cc', 'cln:pending:cc']);
      assert.equal(await db.get('cln:cursor:pay_index'), 7);
      await store.close();
    } finally {
      await dir.remove();
    }
  });
});
