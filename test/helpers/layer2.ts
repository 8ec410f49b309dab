// One check of the Layer2 face (l2.capabilities, l2.submit, l2.status, l2.history, l2.estimatefee) over a pair of
// anyad daemons on two Lightning nodes of the test network, shared by the Core Lightning and LND suites: the same
// calls must behave the same whichever node is behind them.

import assert from 'node:assert/strict';
import { call, type Channel } from './channel.js';

/** payee: anyad on the node that makes the invoice; payer: anyad on a node that can reach it directly. */
export async function checkLayer2Face(payee: Channel, payer: Channel): Promise<void> {
  // Schemas, fee estimate, submit, status, history: the same payment through the face every adapter shows.
  const [caps] = await call<
    Array<{ operations: Record<string, { properties: Record<string, unknown> }>; estimates: Record<string, unknown>; topics: string[] }>
  >(payer, 'l2.capabilities');
  assert.deepEqual(
    [Object.keys(caps!.operations).sort(), Object.keys(caps!.estimates), caps!.topics],
    [['invoice.create', 'pay'], ['pay'], ['ln.invoice', 'ln.payment', 'ln.channel', 'ln.peer']],
  );
  assert.ok('invoice' in caps!.operations.pay!.properties);
  const made = await call<{ id: string; operation: string; status: string; detail: { bolt11: string } }>(payee, 'l2.submit', {
    protocol: 'lightning',
    operation: 'invoice.create',
    params: { amount_msat: 300_000, description: 'via l2' },
  });
  assert.deepEqual([made.operation, made.status], ['invoice.create', 'unpaid']);
  const fee = await call<{ fee_msat: number }>(payer, 'l2.estimatefee', { protocol: 'lightning', operation: 'pay', params: { invoice: made.detail.bolt11 } });
  assert.equal(fee.fee_msat, 30);
  const sent = await call<{ id: string; operation: string; status: string; detail: { fee_msat: number; preimage: string } }>(payer, 'l2.submit', {
    protocol: 'lightning',
    operation: 'pay',
    params: { invoice: made.detail.bolt11 },
  });
  assert.deepEqual([sent.id, sent.operation, sent.status, sent.detail.fee_msat], [made.id, 'pay', 'complete', 30]);
  assert.equal((await call<{ status: string }>(payer, 'l2.status', { protocol: 'lightning', id: made.id })).status, 'complete');
  // The payee's anyad learns of the payment from its own node's stream, which may come a moment after the payer's
  // answer: wait for its record to say paid (bounded), rather than racing it.
  let payeeStatus = '';
  for (const end = Date.now() + 10_000; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) {
    payeeStatus = (await call<{ status: string }>(payee, 'l2.status', { protocol: 'lightning', id: made.id })).status;
    if (payeeStatus !== 'unpaid') break;
  }
  assert.equal(payeeStatus, 'paid');
  const hist = await call<{ total: number; items: Array<{ id: string }> }>(payer, 'l2.history', { protocol: 'lightning', limit: 1 });
  assert.equal(hist.items.length, 1);
  assert.ok(hist.total >= 2);
  const nop = await payer.call('l2.submit', { protocol: 'lightning', operation: 'teleport', params: {} });
  assert.equal(nop.error?.code, -32602);
  assert.match(nop.error!.message, /cannot submit 'teleport' \(it can: pay, invoice\.create\)/);
  const bad = await payer.call('l2.submit', { protocol: 'lightning', operation: 'pay', params: { invoic: 'x' } });
  assert.equal(bad.error?.code, -32602);
  assert.match(bad.error!.message, /invalid params for lightning pay/);
  const none = await payer.call('l2.status', { protocol: 'rgb', id: 'x' });
  assert.match(none.error!.message, /no rgb adapter is configured/);
}
