// ln.invoice exactly once against LND's real replay rules (issue 11), with the LND test peer following
// invoiceregistry.go (see its header): anyad is cut off from LND by a partition (LND goes on serving the payer)
// while invoices are added and settled in every order, including the node's first settlement ever and across an LND
// restart; and the stream is attached late. Every ln.invoice event a subscriber sees is counted: each creation and
// each settlement exactly once, settlements in settle_index order.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as ln from 'ln-service';
import { lndSettled, startDaemon, tempDir, type RunningDaemon } from '../helpers/daemon.js';
import { call, channelsWithEvents, closeAll, type Channel } from '../helpers/channel.js';
import { LnNetwork } from '../peers/ln-network.js';
import { LndPeer } from '../peers/lnd-peer.js';
import { until } from '../helpers/until.js';

interface InvoiceEvent {
  status: string;
  payment_hash: string;
  add_index?: number;
  settle_index?: number;
}

async function direct(p: LndPeer): Promise<ln.AuthenticatedLnd> {
  return ln.authenticatedLndGrpc({
    cert: (await readFile(p.certPath)).toString('base64'),
    macaroon: (await readFile(p.macaroonPath)).toString('hex'),
    socket: p.socket,
  }).lnd;
}

describe('ln.invoice exactly once, as LND really replays', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let net: LnNetwork;
  let payer: LndPeer;
  let node: LndPeer;
  let d: RunningDaemon;
  let ch: Channel;
  let ws: Channel;
  let anyadMacaroon: string;
  const events: InvoiceEvent[] = [];
  let pumping = true;

  /** Keeps reading the WebSocket into `events`. */
  const pump = async (): Promise<void> => {
    while (pumping) {
      try {
        const m = (await ws.next(200)) as { method?: string; params?: { topic: string; data: InvoiceEvent } };
        if (m.method === 'event' && m.params?.topic === 'ln.invoice') events.push(m.params.data);
      } catch {
        // quiet
      }
    }
  };
  const seen = (status: string, hash: string): number => events.filter((e) => e.status === status && e.payment_hash === hash).length;
  const waitFor = (status: string, hash: string): Promise<true> =>
    until(`${status} ${hash.slice(0, 8)}`, async () => (seen(status, hash) > 0 ? true : undefined));
  const healthOk = (): Promise<true> =>
    until('lnd ok', async () =>
      (await call<Array<{ backend: string; state: string }>>(ch, 'l2.health')).find((h) => h.backend === 'lnd')?.state === 'ok' ? true : undefined,
    );
  let lnd: ln.AuthenticatedLnd;
  const make = async (description: string): Promise<{ id: string; request: string }> => ln.createInvoice({ lnd, description, mtokens: '5000' });
  const pay = async (request: string): Promise<void> => void (await ln.payViaPaymentRequest({ lnd: await direct(payer), request }));

  before(async () => {
    dir = await tempDir();
    net = new LnNetwork();
    payer = new LndPeer(net, dir.path, 'payer');
    node = new LndPeer(net, dir.path, 'node');
    await payer.start();
    await node.start();
    net.connect(payer, node.id);
    anyadMacaroon = node.issueMacaroon(join(dir.path, 'anyad.macaroon'));
    d = await startDaemon(join(dir.path, 'anya'), {
      alsoWaitFor: lndSettled,
      args: [
        '-lnd.enable',
        `-lnd.socket=${node.socket}`,
        `-lnd.tlscertpath=${node.certPath}`,
        `-lnd.macaroonpath=${anyadMacaroon}`,
        '-nobitcoind.enable',
        '-noml.enable',
      ],
    });
    ({ ch, ws } = await channelsWithEvents(d, ['ln.invoice']));
    lnd = await direct(node);
    void pump();
  });
  after(async () => {
    pumping = false;
    await closeAll(ch, ws, d, payer, node, dir);
  });

  it("the node's first settlement ever, made while anyad was cut off, is reported once", async () => {
    const inv = await call<{ payment_hash: string; bolt11: string }>(ch, 'ln.createinvoice', { amount_msat: 3000, description: 'first' });
    await waitFor('created', inv.payment_hash);
    node.partition(anyadMacaroon, true);
    await until('anyad notices', async () =>
      (await call<Array<{ backend: string; state: string }>>(ch, 'l2.health')).find((h) => h.backend === 'lnd')?.state !== 'ok' ? true : undefined,
    );
    await pay(inv.bolt11);
    node.partition(anyadMacaroon, false);
    await waitFor('settled', inv.payment_hash);
    assert.equal(seen('settled', inv.payment_hash), 1);
  });

  it('added and settled in every order while cut off (also across an LND restart): each once, settlements in settle order', async () => {
    for (const restart of [false, true]) {
      const older = await make('older');
      const oldest = await make('oldest-unpaid');
      await waitFor('created', older.id);
      node.partition(anyadMacaroon, true);
      // The older invoice settles first, then a newer one is added and settled: LND's backlog sends the newer one
      // first (as an add, already settled), then the older settlement.
      await pay(older.request);
      const newer = await make('newer');
      await pay(newer.request);
      const newest = await make('newest, paid before the one made before it');
      const middle = await make('middle');
      await pay(newest.request);
      await pay(middle.request);
      await pay(oldest.request);
      const open = await make('still open');
      if (restart) {
        await node.stop();
        await node.start();
      }
      node.partition(anyadMacaroon, false);
      for (const x of [older, newer, newest, middle, oldest]) await waitFor('settled', x.id);
      await waitFor('created', open.id);
      for (const x of [newer, newest, middle, open]) assert.equal(seen('created', x.id), 1, `created once: ${x.id}`);
      for (const x of [older, newer, newest, middle, oldest]) assert.equal(seen('settled', x.id), 1, `settled once: ${x.id}`);
      const order = events.filter((e) => e.status === 'settled').map((e) => e.settle_index!);
      assert.deepEqual(
        order,
        [...order].sort((a, b) => a - b),
        'settlements in settle_index order',
      );
      assert.deepEqual(
        order,
        order.map((_, i) => i + 1),
        'every settle index reported, none twice',
      );
    }
  });

  it('a stream attached late loses nothing: an invoice made as soon as health is ok gets its events', async () => {
    node.subscribeDelayMs = 1500;
    node.partition(anyadMacaroon, true);
    await until('anyad notices', async () =>
      (await call<Array<{ backend: string; state: string }>>(ch, 'l2.health')).find((h) => h.backend === 'lnd')?.state !== 'ok' ? true : undefined,
    );
    node.partition(anyadMacaroon, false);
    await healthOk();
    const inv = await call<{ payment_hash: string; bolt11: string }>(ch, 'ln.createinvoice', { amount_msat: 9000, description: 'right away' });
    await pay(inv.bolt11);
    await waitFor('settled', inv.payment_hash);
    await waitFor('created', inv.payment_hash);
    node.subscribeDelayMs = 0;
    assert.equal(seen('created', inv.payment_hash), 1);
    assert.equal(seen('settled', inv.payment_hash), 1);
  });

  it('anyad is ready before LND attaches; meanwhile LND calls answer -28 naming the stage, and nothing made after is lost', async () => {
    ch.close();
    ws.close();
    pumping = false;
    await d.kill();
    node.subscribeDelayMs = 1500;
    const args = [
      '-lnd.enable',
      `-lnd.socket=${node.socket}`,
      `-lnd.tlscertpath=${node.certPath}`,
      `-lnd.macaroonpath=${anyadMacaroon}`,
      '-nobitcoind.enable',
      '-noml.enable',
    ];
    // Stopped while LND attaches: anyad stops cleanly, whatever step the attach had reached.
    const stopped = await startDaemon(d.datadir, { args });
    assert.equal(await stopped.kill('SIGTERM'), 0);
    d = await startDaemon(d.datadir, { args });
    ({ ch, ws } = await channelsWithEvents(d, ['ln.invoice']));
    const early = await ch.call('ln.createinvoice', { amount_msat: 1000, description: 'too early' });
    assert.equal(early.error?.code, -28, JSON.stringify(early));
    assert.match(String((early.error?.data as { stage?: string }).stage), /^lnd: /);
    assert.equal(
      node.invoices.some((i) => i.memo === 'too early'),
      false,
      'nothing was created on the node',
    );
    await d.waitForLog(lndSettled);
    node.subscribeDelayMs = 0;
    events.length = 0;
    pumping = true;
    void pump();
    const inv = await call<{ payment_hash: string; bolt11: string }>(ch, 'ln.createinvoice', { amount_msat: 9000, description: 'once attached' });
    await pay(inv.bolt11);
    await waitFor('settled', inv.payment_hash);
    assert.equal(seen('created', inv.payment_hash), 1);
    assert.equal(seen('settled', inv.payment_hash), 1);
  });

  it('anyad restarted after settlements while it was down: reported once (cursors), nothing again afterwards', async () => {
    const a = await make('while anyad is down, a');
    const b = await make('while anyad is down, b');
    await waitFor('created', b.id);
    pumping = false;
    ch.close();
    ws.close();
    await d.kill();
    await pay(b.request);
    await pay(a.request);
    const c = await make('made while anyad is down');
    d = await startDaemon(d.datadir, {
      alsoWaitFor: lndSettled,
      args: [
        '-lnd.enable',
        `-lnd.socket=${node.socket}`,
        `-lnd.tlscertpath=${node.certPath}`,
        `-lnd.macaroonpath=${anyadMacaroon}`,
        '-nobitcoind.enable',
        '-noml.enable',
      ],
    });
    ({ ch, ws } = await channelsWithEvents(d, ['ln.invoice']));
    const lastSettle = Math.max(...events.filter((e) => e.status === 'settled').map((e) => e.settle_index!));
    const [l2] = await call<Array<{ summary: { cursors?: { settle_index?: number; add_index?: number } } }>>(ch, 'l2.list');
    assert.equal(l2!.summary.cursors?.settle_index, lastSettle + 2, 'both settlements made while anyad was down were reported');
    assert.equal(l2!.summary.cursors?.add_index, node.invoices.length, 'the creation too');
    events.length = 0;
    pumping = true;
    void pump();
    const after = await make('after');
    await pay(after.request);
    await waitFor('settled', after.id);
    assert.deepEqual(
      events.map((e) => [e.status, e.payment_hash]),
      [
        ['created', after.id],
        ['settled', after.id],
      ],
      'nothing before it is reported again',
    );
    void c;
  });
});
