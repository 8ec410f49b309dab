// The Lightning room with Core Lightning test peers (test/peers/cln-peer: real framing, schema shapes and signed
// BOLT11; see its header for what it does not prove): an invoice made on B through anyad, paid from A, reaches a
// WebSocket subscriber as ln.invoice settled; anyad paying through A; clear errors for bad invoices, unknown peers
// and missing funds; lightningd stopped and restarted; and an invoice settled while anyad was down reported
// exactly once when it comes back.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ClnClient } from '../../src/adapters/lightning/cln-client.js';
import { startDaemon, tempDir, type RunningDaemon } from '../helpers/daemon.js';
import { checkLayer2Face } from '../helpers/layer2.js';
import { call, channelsWithEvents, closeAll, nextEvent, unixChannel, wsChannel, type Channel } from '../helpers/channel.js';
import { ClnPeer } from '../peers/cln-peer.js';
import { LnNetwork } from '../peers/ln-network.js';
import { until } from '../helpers/until.js';

describe('Lightning over Core Lightning test peers', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let net: LnNetwork;
  let a: ClnPeer;
  let b: ClnPeer;
  let d: RunningDaemon;
  let ws: Channel;
  let ch: Channel;
  const args = (p: ClnPeer): string[] => ['-cln.enable', `-cln.rpcfile=${p.socketPath}`, '-nobitcoind.enable', '-noml.enable'];

  before(async () => {
    dir = await tempDir();
    net = new LnNetwork();
    a = new ClnPeer(net, join(dir.path, 'a.rpc'), 'alice');
    b = new ClnPeer(net, join(dir.path, 'b.rpc'), 'bob');
    await a.start();
    await b.start();
    d = await startDaemon(join(dir.path, 'anya-b'), { args: args(b) });
    ({ ch, ws } = await channelsWithEvents(d, ['ln.*']));
  });
  after(() => closeAll(ch, ws, d, a, b, dir));

  it('getinfo, balance, the Layer2 registry', async () => {
    const info = await call<{ backend: string; id: string; alias: string; network: string }>(ch, 'ln.getinfo');
    assert.deepEqual([info.backend, info.id, info.alias, info.network], ['cln', b.id, 'bob', 'regtest']);
    const bal = await call<{ onchain_confirmed_sat: number; channel_local_msat: number }>(ch, 'ln.balance');
    assert.equal(bal.onchain_confirmed_sat, 5_000_000);
    const l2 = await call<Array<{ protocol: string; backend: string; state: string }>>(ch, 'l2.list');
    assert.deepEqual(
      l2.map((x) => [x.protocol, x.backend, x.state]),
      [['lightning', 'cln', 'ok']],
    );
    const caps = await call<Array<{ capabilities: string[] }>>(ch, 'l2.capabilities');
    assert.ok(caps[0]!.capabilities.includes('invoice.create'));
  });

  it('an invoice created on B through anyad, paid from A, arrives as ln.invoice settled on the WebSocket', async () => {
    const inv = await call<{ payment_hash: string; bolt11: string; label: string }>(ch, 'ln.createinvoice', { amount_msat: 150_000, description: 'coffee' });
    const created = await nextEvent(ws, 'ln.invoice', (x) => x.status === 'created');
    assert.deepEqual([created.payment_hash, created.label], [inv.payment_hash, inv.label]);
    const decoded = await call<{ payee: string; amount_msat: number; payment_hash: string }>(ch, 'ln.decode', { invoice: inv.bolt11 });
    assert.deepEqual([decoded.payee, decoded.amount_msat, decoded.payment_hash], [b.id, 150_000, inv.payment_hash]);
    const payer = new ClnClient(a.socketPath, 5000);
    await payer.call('connect', { id: b.id });
    await payer.call('pay', { bolt11: inv.bolt11 });
    payer.close();
    const settled = await nextEvent(ws, 'ln.invoice', (x) => x.status === 'settled');
    assert.equal(settled.payment_hash, inv.payment_hash);
    assert.equal(settled.amount_received_msat, 150_000);
    const looked = await call<{ status: string }>(ch, 'ln.lookupinvoice', { payment_hash: inv.payment_hash });
    assert.equal(looked.status, 'paid');
    const list = await call<{ stale: boolean; invoices: Array<{ payment_hash: string; status: string }> }>(ch, 'ln.listinvoices');
    assert.equal(list.stale, false);
    assert.equal(list.invoices.find((i) => i.payment_hash === inv.payment_hash)!.status, 'paid');
  });

  it("an invoice made on the node by another program is reported as created, with lightningd's label", async () => {
    const other = new ClnClient(b.socketPath, 5000);
    const inv = await other.call<{ payment_hash: string; created_index: number }>('invoice', { amount_msat: 5000, label: 'shop-7', description: 'elsewhere' });
    other.close();
    const ev = await nextEvent(ws, 'ln.invoice', (x) => x.status === 'created');
    assert.deepEqual([ev.payment_hash, ev.label, ev.amount_msat, ev.created_index], [inv.payment_hash, 'shop-7', 5000, inv.created_index]);
  });

  it('anyad pays through A: ln.payment succeeded, fee cap honoured, records kept', async () => {
    const da = await startDaemon(join(dir.path, 'anya-a'), { args: [...args(a), '-ln.watchinterval=100'] });
    const ca = await unixChannel(da.socket);
    await call(ca, 'subscribe', { topics: ['ln.payment', 'ln.peer', 'ln.channel'] });
    await call(ca, 'ln.connect', { id: b.id }); // already a peer (paid B before): no change, no event
    assert.ok((await call<Array<{ id: string; connected: boolean }>>(ca, 'ln.listpeers')).some((p) => p.id === b.id && p.connected));
    const c = new ClnPeer(net, join(dir.path, 'c.rpc'), 'carol');
    await c.start();
    await call(ca, 'ln.connect', { id: c.id });
    const joined = await nextEvent(ca, 'ln.peer');
    assert.deepEqual([joined.id, joined.status], [c.id, 'connected']);
    // A channel with C, closed by force once C is gone (at the end).
    const withC = await call<{ channel_id: string }>(ca, 'ln.openchannel', { peer: c.id, amount_sat: 100_000 });
    await nextEvent(ca, 'ln.channel', (x) => x.channel_id === withC.channel_id && x.status === 'active');
    await c.stop(); // a change anyad did not make
    const gone = await nextEvent(ca, 'ln.peer');
    assert.deepEqual([gone.id, gone.status], [c.id, 'disconnected']);
    const ch1 = await call<{ channel_id: string }>(ca, 'ln.openchannel', { peer: b.id, amount_sat: 1_000_000 });
    const opened = await nextEvent(ca, 'ln.channel', (x) => x.channel_id === ch1.channel_id);
    assert.deepEqual([opened.status, opened.channel_id, opened.peer], ['opened', ch1.channel_id, b.id]);
    assert.equal((await nextEvent(ca, 'ln.channel', (x) => x.channel_id === ch1.channel_id)).status, 'active');
    const chans = await call<Array<{ channel_id: string }>>(ca, 'ln.listchannels');
    assert.ok(chans.some((c) => c.channel_id === ch1.channel_id));
    const broke = await ca.call('ln.openchannel', { peer: b.id, amount_sat: 9_000_000 });
    assert.equal(broke.error?.code, -32016);
    assert.match(broke.error!.message, /Could not afford/);
    assert.equal((broke.error!.data as { kind: string }).kind, 'insufficient_funds');
    const inv = await call<{ bolt11: string; payment_hash: string }>(ch, 'ln.createinvoice', { amount_msat: 2_000_000, description: 'tea' });
    const capped = await ca.call('ln.pay', { invoice: inv.bolt11, max_fee_msat: 1 });
    assert.equal(capped.error?.code, -32016);
    assert.match(capped.error!.message, /fee budget/);
    assert.equal((capped.error!.data as { kind: string }).kind, 'fee_limit');
    assert.equal((await nextEvent(ca, 'ln.payment')).status, 'failed');
    const paid = await call<{ status: string; amount_msat: number; fee_msat: number; preimage: string }>(ca, 'ln.pay', { invoice: inv.bolt11 });
    assert.equal(paid.status, 'complete');
    assert.equal(paid.amount_msat, 2_000_000);
    assert.equal((await nextEvent(ca, 'ln.payment')).status, 'succeeded');
    const pays = await call<{ payments: Array<{ payment_hash: string; status: string }> }>(ca, 'ln.listpayments');
    assert.equal(pays.payments.find((p) => p.payment_hash === inv.payment_hash)!.status, 'complete');
    // Two calls paying the same invoice at once: one is refused at once, the other pays.
    const twice = await call<{ bolt11: string }>(ch, 'ln.createinvoice', { amount_msat: 4_000, description: 'twice' });
    a.holdPayments = true;
    const first = ca.call('ln.pay', { invoice: twice.bolt11 });
    const second = ca.call('ln.pay', { invoice: twice.bolt11 });
    const refused = await Promise.race([first, second]);
    assert.equal(refused.error?.code, -32014);
    a.release();
    const outcomes = await Promise.all([first, second]);
    assert.deepEqual(outcomes.map((o) => o.error?.code ?? 'ok').sort(), [-32014, 'ok']);
    // The same payment through the Layer2 face every adapter shows.
    await checkLayer2Face(ch, ca);
    const closed = await call<{ type: string }>(ca, 'ln.closechannel', { channel: ch1.channel_id });
    assert.equal(closed.type, 'mutual');
    assert.deepEqual(
      Object.entries(await nextEvent(ca, 'ln.channel', (x) => x.channel_id === ch1.channel_id)).filter(([k]) => ['status', 'channel_id'].includes(k)),
      [
        ['status', 'closed'],
        ['channel_id', ch1.channel_id],
      ],
    );
    // C is away: forced, lightningd drops to chain after unilateraltimeout (1 s) and the channel waits for its
    // commitment to confirm (closing).
    const forced = await call<{ type: string; txid: string }>(ca, 'ln.closechannel', { channel: withC.channel_id, force: true });
    assert.equal(forced.type, 'unilateral');
    assert.match(forced.txid, /^[0-9a-f]{64}$/);
    assert.equal((await nextEvent(ca, 'ln.channel', (x) => x.channel_id === withC.channel_id && x.status !== 'inactive')).status, 'closing');
    assert.deepEqual(
      (await call<Array<{ channel_id: string; state: string }>>(ca, 'ln.listchannels')).map((x) => [x.channel_id, x.state]),
      [[withC.channel_id, 'AWAITING_UNILATERAL']],
    );
    ca.close();
    await da.kill();
  });

  it("a payment whose outcome anyad missed (killed mid-payment) is settled from lightningd's record when it is back", async () => {
    const datadir = join(dir.path, 'anya-crash');
    const dx = await startDaemon(datadir, { args: [...args(a), '-ln.watchinterval=100'] });
    const cx = await unixChannel(dx.socket);
    const inv = await call<{ bolt11: string; payment_hash: string }>(ch, 'ln.createinvoice', { amount_msat: 12_000, description: 'crash' });
    a.holdPayments = true;
    void cx.call('ln.pay', { invoice: inv.bolt11 }).catch(() => undefined); // never answered: anyad dies first
    await until('the payment shown as pending', async () => {
      const r = await call<{ payments: Array<{ payment_hash: string; status: string }> }>(cx, 'ln.listpayments');
      return r.payments.some((x) => x.payment_hash === inv.payment_hash && x.status === 'pending') ? true : undefined;
    });
    cx.close();
    await dx.kill('SIGKILL');
    a.release();
    const dy = await startDaemon(datadir, { args: [...args(a), '-ln.watchinterval=100'] });
    const cy = await unixChannel(dy.socket);
    try {
      const rec = await until('the outcome read from lightningd', async () => {
        const r = await call<{ payments: Array<{ payment_hash: string; status: string; preimage?: string }> }>(cy, 'ln.listpayments');
        const x = r.payments.find((y) => y.payment_hash === inv.payment_hash);
        return x?.status === 'complete' ? x : undefined;
      });
      assert.match(rec.preimage!, /^[0-9a-f]{64}$/);
    } finally {
      await closeAll(cy, dy);
    }
  });

  it('a closed client stays closed (a follower cannot reconnect behind a shutdown)', async () => {
    const c = new ClnClient(b.socketPath, 1000);
    assert.equal((await c.call<{ id: string }>('getinfo')).id, b.id);
    c.close();
    await assert.rejects(c.call('getinfo'), /the client is closed/);
  });

  it('bad invoices and unknown peers are clear errors', async () => {
    const bad = await ch.call('ln.decode', { invoice: 'lnbcrt1notaninvoice' });
    assert.equal(bad.error?.code, -32602);
    assert.match(bad.error!.message, /invoice: not a valid BOLT11 invoice/);
    // BOLT 11's first example: a valid invoice, for mainnet.
    const mainnet = await ch.call('ln.pay', {
      invoice:
        'lnbc1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdpl2pkx2ctnv5sxxmmwwd5kgetjypeh2ursdae8g6twvus8g6rfwvs8qun0dfjkxaq8rkx3yf5tcsyz3d73gafnh3cax9rn449d9p5uxz9ezhhypd0elx87sjle52x86fux2ypatgddc6k63n7erqz25le42c4u4ecky03ylcqca784w',
    });
    assert.equal(mainnet.error?.code, -32602);
    assert.match(mainnet.error!.message, /it is for bitcoin, but anyad runs on regtest/);
    const nochan = await ch.call('ln.closechannel', { channel: '123x4x5' });
    assert.equal(nochan.error?.code, -32011);
    const shape = await ch.call('ln.pay', { invoice: 'hello' });
    assert.equal(shape.error?.code, -32602);
    const unknown = await ch.call('ln.connect', { id: `02${'11'.repeat(32)}` });
    assert.equal(unknown.error?.code, -32016);
    assert.equal((unknown.error!.data as { kind: string }).kind, 'peer_unreachable');
  });

  it('lightningd stopped: fast BackendUnavailable, records still listed as stale; back: reconnects', async () => {
    await b.stop();
    await d.waitForLog((l) => l.msg === 'lost lightningd');
    const r = await ch.call('ln.getinfo');
    assert.equal(r.error?.code, -32010);
    const list = await call<{ stale: boolean; invoices: unknown[] }>(ch, 'ln.listinvoices');
    assert.equal(list.stale, true);
    assert.ok(list.invoices.length >= 2);
    await b.start();
    await until('reconnected', async () => ((await ch.call('ln.getinfo')).error ? undefined : true));
  });

  it('an invoice settled while anyad was down is reported exactly once after it comes back', async () => {
    const inv = await call<{ bolt11: string; payment_hash: string }>(ch, 'ln.createinvoice', { amount_msat: 42_000, description: 'while down' });
    ch.close();
    ws.close();
    await d.kill();
    const payer = new ClnClient(a.socketPath, 5000);
    await payer.call('pay', { bolt11: inv.bolt11 });
    payer.close();
    const maker = new ClnClient(b.socketPath, 5000);
    const elsewhere = await maker.call<{ created_index: number }>('invoice', { amount_msat: 9000, label: 'made-while-down', description: 'x' });
    maker.close();
    d = await startDaemon(d.datadir, { args: args(b) });
    ch = await unixChannel(d.socket);
    await until('the invoice made while anyad was down, reported as created', async () => {
      const [l2] = await call<Array<{ summary: { cursors?: { created_index?: number } } }>>(ch, 'l2.list');
      return (l2!.summary.cursors?.created_index ?? 0) >= elsewhere.created_index ? true : undefined;
    });
    // The follower picks the settlement up while anyad starts; the record shows when it has (the event is
    // published right after that write, so subscribing afterwards cannot see it).
    await until('the settlement made while anyad was down', async () => {
      const list = await call<{ invoices: Array<{ payment_hash: string; status: string }> }>(ch, 'ln.listinvoices');
      return list.invoices.find((x) => x.payment_hash === inv.payment_hash)?.status === 'paid' ? true : undefined;
    });
    ws = await wsChannel(d.wsUrl!, await d.cookie());
    await call(ws, 'subscribe', { topics: ['ln.invoice'] });
    // Exactly once: the persisted cursor is past it, so a further settlement is the only event that comes.
    const another = await call<{ bolt11: string; payment_hash: string }>(ch, 'ln.createinvoice', { amount_msat: 1_000, description: 'after' });
    const payer2 = new ClnClient(a.socketPath, 5000);
    await payer2.call('pay', { bolt11: another.bolt11 });
    payer2.close();
    const made = await nextEvent(ws, 'ln.invoice', (x) => x.status === 'created');
    assert.equal(made.payment_hash, another.payment_hash, 'earlier creations are not reported again');
    const ev = await nextEvent(ws, 'ln.invoice', (x) => x.status === 'settled');
    assert.equal(ev.payment_hash, another.payment_hash, 'the old settlement is not reported again');
    await assert.rejects(
      nextEvent(ws, 'ln.invoice', (x) => x.status === 'settled', 300),
      /timeout/,
    );
  });
});
