// Payments in flight stay pending on Core Lightning (issue 11): lightningd's pay answering PAY_IN_PROGRESS (200,
// common/jsonrpc_errors.h) is not a failure, and the record follows the node's word (listpays) once it ends; pay is
// allowed its retry_for on top of cln.timeout. Against the CLN test peer (see its header for what it does not prove).

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ClnClient } from '../../src/adapters/lightning/cln-client.js';
import { makeRpcAuth } from '../../src/rpc/auth.js';
import { startDaemon, tempDir, type RunningDaemon } from '../helpers/daemon.js';
import { call, channelsWithEvents, closeAll, nextEvent, wsChannel, type Channel } from '../helpers/channel.js';
import { ClnPeer } from '../peers/cln-peer.js';
import { LnNetwork } from '../peers/ln-network.js';
import { until } from '../helpers/until.js';

describe('Core Lightning payments in flight', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let net: LnNetwork;
  let a: ClnPeer;
  let b: ClnPeer;
  let da: RunningDaemon;
  let db: RunningDaemon;
  let ca: Channel;
  let wa: Channel;
  let cb: Channel;
  let wb: Channel;
  const args = (p: ClnPeer, extra: string[] = []): string[] => [
    '-cln.enable',
    `-cln.rpcfile=${p.socketPath}`,
    '-nobitcoind.enable',
    '-noml.enable',
    '-ln.watchinterval=100',
    ...extra,
  ];

  before(async () => {
    dir = await tempDir();
    net = new LnNetwork();
    a = new ClnPeer(net, join(dir.path, 'a.rpc'), 'alice');
    b = new ClnPeer(net, join(dir.path, 'b.rpc'), 'bob');
    await a.start();
    await b.start();
    net.connect(a, b.id);
    db = await startDaemon(join(dir.path, 'anya-b'), { args: args(b) });
    da = await startDaemon(join(dir.path, 'anya-a'), { args: args(a, ['-cln.timeout=1', `-rpcauth=${makeRpcAuth('reader', 'r-pass', 'readonly')}`]) });
    ({ ch: cb, ws: wb } = await channelsWithEvents(db, ['ln.*']));
    ({ ch: ca, ws: wa } = await channelsWithEvents(da, ['ln.*']));
  });
  after(() => closeAll(ca, wa, cb, wb, da, db, a, b, dir));

  it('pay answered 200 (the node is already paying it) is pending, then complete from listpays, never failed', async () => {
    const inv = await call<{ bolt11: string; payment_hash: string }>(cb, 'ln.createinvoice', { amount_msat: 21_000, description: 'in flight' });
    a.holdPayments = true;
    // Another program on the box pays the same invoice on the node first.
    const other = new ClnClient(a.socketPath, 30_000);
    const otherPay = other.call('pay', { bolt11: inv.bolt11 });
    await until('the other payment in flight', async () =>
      (await other.call<{ pays: Array<{ status: string }> }>('listpays', { payment_hash: inv.payment_hash })).pays.length > 0 ? true : undefined,
    );
    const r = await call<{ status: string; preimage: string | null }>(ca, 'ln.pay', { invoice: inv.bolt11 });
    assert.deepEqual([r.status, r.preimage], ['pending', null]);
    const listed = await call<{ payments: Array<{ payment_hash: string; status: string }> }>(ca, 'ln.listpayments');
    assert.equal(listed.payments.find((p) => p.payment_hash === inv.payment_hash)?.status, 'pending');
    a.release();
    await otherPay;
    const ev = await nextEvent(wa, 'ln.payment', (x) => x.payment_hash === inv.payment_hash);
    assert.equal(ev.status, 'succeeded');
    const done = await call<{ payments: Array<{ payment_hash: string; status: string; preimage?: string }> }>(ca, 'ln.listpayments');
    const rec = done.payments.find((p) => p.payment_hash === inv.payment_hash)!;
    assert.equal(rec.status, 'complete');
    assert.match(rec.preimage ?? '', /^[0-9a-f]{64}$/);
    other.close();
  });

  it('pay may take its timeout on top of cln.timeout (1 s here): a payment held 2 s completes', async () => {
    const inv = await call<{ bolt11: string; payment_hash: string }>(cb, 'ln.createinvoice', { amount_msat: 5_000, description: 'slow route' });
    a.holdPayments = true;
    const paying = ca.call('ln.pay', { invoice: inv.bolt11, timeout: 10 });
    await new Promise((r) => setTimeout(r, 2000));
    a.release();
    const r = await paying;
    assert.equal((r.result as { status: string } | undefined)?.status, 'complete', JSON.stringify(r.error));
  });

  it('preimages are for the user and admin roles: a readonly caller sees payments without them, and cannot probe', async () => {
    // This anyad has no HSM room, so it keeps no preimages (preimages.ts): they are read from lightningd, once the
    // client is back after the previous test's held payment outlasted cln.timeout.
    const admin = await until('lightningd answering again', async () => {
      const r = await call<{ stale: boolean; payments: Array<{ preimage?: string; status: string }> }>(ca, 'ln.listpayments');
      return r.stale ? undefined : r;
    });
    assert.ok(
      admin.payments.some((p) => p.status === 'complete' && p.preimage),
      'admin sees the proof of payment',
    );
    const reader = await wsChannel(da.wsUrl!, 'reader:r-pass');
    const seen = await call<{ payments: Array<Record<string, unknown>> }>(reader, 'ln.listpayments');
    assert.equal(seen.payments.length, admin.payments.length);
    assert.ok(
      seen.payments.every((p) => !('preimage' in p)),
      'no preimage for readonly',
    );
    const hist = await call<{ items: unknown[] }>(reader, 'l2.history', { protocol: 'lightning' });
    assert.ok(!JSON.stringify(hist).includes('preimage'));
    const inv = await call<{ bolt11: string }>(cb, 'ln.createinvoice', { amount_msat: 1000, description: 'probe' });
    assert.equal(
      (await reader.call('l2.estimatefee', { protocol: 'lightning', operation: 'pay', params: { invoice: inv.bolt11 } })).error?.code,
      -32002,
      'fee probes need the user role',
    );
    const sub = await reader.call('subscribe', { topics: ['ln.payment'] });
    assert.equal(sub.error?.code, -32002, 'ln.payment needs the user role');
    assert.ok((await reader.call('subscribe', { topics: ['ln.*'] })).result, 'a pattern is allowed; it carries only what the role may see');
    reader.close();
  });
});
