// The RGB operations that change something, shared by the rgb.* methods and the Layer2 adapter: issue an asset,
// create an invoice, send to an invoice, create a Lightning invoice for an asset. Each checks its input in anyad
// first, runs under the room's follow lock (so a look never reports a change before anyad's record of it, and two
// sends through anyad never race for the same allocation), records the operation with its label, and asks for a look.

import { createHash } from 'node:crypto';
import type { Static } from '@sinclair/typebox';
import { rpcError } from '../../core/errors.js';
import { checkAssetId, checkInvoice, checkRecipient, nodeNetworkMatches } from './formats.js';
import { fungible, type DecodedInvoice, type NodeAsset, type NodeBalance } from './node-types.js';
import type { OpRecord } from './records.js';
import type { RgbService } from './service.js';
import { IssueParams, InvoiceParams, SendParams, LnInvoiceParams, IssueResult, InvoiceResult, SendResult, LnInvoiceResult } from './declarations.js';

const now = (): number => Math.floor(Date.now() / 1000);

function op(id: string, operation: OpRecord['operation'], label: string, asset_id: string | null, amount: number | null, detail: OpRecord['detail']): OpRecord {
  return { id, operation, label, created_at: now(), asset_id, amount, detail };
}

export function checkFeeRate(feeRate: number, max: number): void {
  if (feeRate > max) throw rpcError('PolicyDenied', `fee_rate ${feeRate} sat/vB is above rgb.maxfeerate (${max})`, { rule: 'rgb.maxfeerate', limit: max });
}

export async function issueAsset(svc: RgbService, p: Static<typeof IssueParams>): Promise<Static<typeof IssueResult>> {
  if (p.schema !== 'cfa' && !p.ticker) throw rpcError('InvalidParams', `ticker: a ${p.schema} asset needs one`, { field: 'ticker' });
  if (p.schema === 'cfa' && p.ticker) throw rpcError('InvalidParams', 'ticker: a cfa asset has none', { field: 'ticker' });
  if (p.schema !== 'uda' && !p.amounts) throw rpcError('InvalidParams', `amounts: a ${p.schema} asset needs at least one`, { field: 'amounts' });
  if (p.schema === 'uda' && p.amounts) throw rpcError('InvalidParams', 'amounts: a uda asset is one unique token; give none', { field: 'amounts' });
  const total = (p.amounts ?? []).reduce((s, a) => s + a, 0);
  if (total > Number.MAX_SAFE_INTEGER) throw rpcError('InvalidParams', 'amounts: the total is larger than 2^53-1', { field: 'amounts' });
  svc.requireReady();
  const body: Record<string, Record<string, unknown>> = {
    nia: { amounts: p.amounts, ticker: p.ticker, name: p.name, precision: p.precision },
    cfa: { amounts: p.amounts, name: p.name, details: p.details ?? null, precision: p.precision, file_digest: null },
    uda: { ticker: p.ticker, name: p.name, details: p.details ?? null, precision: p.precision, media_file_digest: null, attachments_file_digests: [] },
  };
  const asset = await svc.follow.run('follow', async () => {
    const { asset: a } = await svc.call((c) => c.post<{ asset: NodeAsset }>(`/issueasset${p.schema}`, body[p.schema]));
    await svc.records.putOp(
      op(a.asset_id, 'issue', p.label, a.asset_id, a.issued_supply ?? null, { schema: p.schema, name: a.name, ticker: a.ticker ?? null }),
    );
    return a;
  });
  void svc.tick();
  return {
    asset_id: asset.asset_id,
    schema: p.schema,
    name: asset.name,
    ticker: asset.ticker ?? null,
    precision: asset.precision,
    issued_supply: asset.issued_supply ?? null,
    label: p.label,
  };
}

export async function createInvoice(svc: RgbService, p: Static<typeof InvoiceParams>): Promise<Static<typeof InvoiceResult>> {
  if (p.asset_id) checkAssetId(p.asset_id);
  svc.requireReady();
  const res = await svc.follow.run('follow', async () => {
    const r = await svc.call((c) =>
      c.post<{ recipient_id: string; invoice: string; expiration_timestamp?: number | null; batch_transfer_idx?: number }>('/rgbinvoice', {
        min_confirmations: p.min_confirmations,
        asset_id: p.asset_id ?? null,
        ...(p.amount !== undefined ? { assignment: { type: 'Fungible', value: p.amount } } : {}),
        duration_seconds: p.duration_seconds ?? null,
        witness: p.witness,
      }),
    );
    // The node's answer is checked too: an invoice for another network must never leave anyad.
    checkRecipient(r.recipient_id, svc.network, 'the node’s recipient_id');
    await svc.records.putOp(op(r.recipient_id, 'invoice', p.label, p.asset_id ?? null, p.amount ?? null, { invoice: r.invoice, witness: p.witness }));
    return r;
  });
  void svc.tick();
  return {
    invoice: res.invoice,
    recipient_id: res.recipient_id,
    expiration_timestamp: res.expiration_timestamp ?? null,
    batch_transfer_idx: res.batch_transfer_idx ?? null,
    label: p.label,
  };
}

/** The node's decoding of an invoice, checked against anyad's network. */
export async function decodeInvoice(svc: RgbService, invoice: string): Promise<DecodedInvoice> {
  checkInvoice(invoice, svc.network);
  svc.requireReady();
  const d = await svc.call((c) => c.post<DecodedInvoice>('/decodergbinvoice', { invoice }));
  if (!nodeNetworkMatches(svc.network, d.network))
    throw rpcError('InvalidParams', `invoice: it is for ${d.network}, anyad runs on ${svc.network}`, { field: 'invoice' });
  return d;
}

export async function sendAsset(svc: RgbService, maxFeeRate: number, p: Static<typeof SendParams>): Promise<Static<typeof SendResult>> {
  checkInvoice(p.invoice, svc.network);
  if (p.asset_id) checkAssetId(p.asset_id);
  checkFeeRate(p.fee_rate, maxFeeRate);
  svc.requireReady();
  const sent = await svc.follow.run('follow', async () => {
    const d = await decodeInvoice(svc, p.invoice);
    if (d.asset_id && p.asset_id && d.asset_id !== p.asset_id)
      throw rpcError('InvalidParams', `asset_id: the invoice asks for ${d.asset_id}`, { field: 'asset_id' });
    const assetId = d.asset_id ?? p.asset_id;
    if (!assetId) throw rpcError('InvalidParams', 'asset_id: the invoice names no asset; give asset_id', { field: 'asset_id' });
    checkAssetId(assetId);
    const asked = fungible(d.assignment);
    if (asked && p.amount !== undefined && asked !== p.amount) throw rpcError('InvalidParams', `amount: the invoice asks for ${asked}`, { field: 'amount' });
    const amount = asked || p.amount;
    if (!amount) throw rpcError('InvalidParams', 'amount: the invoice names no amount; give amount', { field: 'amount' });
    if (typeof d.expiration_timestamp === 'number' && d.expiration_timestamp <= now())
      throw rpcError('InvalidParams', `invoice: expired at ${new Date(d.expiration_timestamp * 1000).toISOString()}`, { field: 'invoice' });
    const balance = await svc.call((c) => c.post<NodeBalance>('/assetbalance', { asset_id: assetId }));
    if (balance.spendable < amount)
      throw rpcError('BackendRejected', `not enough of ${assetId} spendable: ${balance.spendable} spendable, ${amount} asked`, {
        kind: 'insufficient_assets',
        spendable: balance.spendable,
      });
    const { txid } = await svc.call((c) =>
      c.post<{ txid: string }>('/sendasset', {
        asset_id: assetId,
        assignment: { type: 'Fungible', value: amount },
        recipient_id: d.recipient_id,
        donation: p.donation,
        fee_rate: p.fee_rate,
        min_confirmations: p.min_confirmations,
        transport_endpoints: d.transport_endpoints,
        skip_sync: false,
      }),
    );
    await svc.records.putOp(
      op(txid, 'send', p.label, assetId, amount, { recipient_id: d.recipient_id, fee_rate: p.fee_rate, donation: p.donation, invoice: p.invoice }),
    );
    return { txid, asset_id: assetId, amount, recipient_id: d.recipient_id };
  });
  void svc.tick();
  return { ...sent, label: p.label };
}

export async function createLnInvoice(svc: RgbService, p: Static<typeof LnInvoiceParams>): Promise<Static<typeof LnInvoiceResult>> {
  checkAssetId(p.asset_id);
  svc.requireReady();
  const { invoice } = await svc.call((c) =>
    c.post<{ invoice: string }>('/lninvoice', { amt_msat: p.amt_msat, expiry_sec: p.expiry_sec, asset_id: p.asset_id, asset_amount: p.asset_amount }),
  );
  const id = `ln:${createHash('sha256').update(invoice).digest('hex').slice(0, 32)}`;
  await svc.records.putOp(op(id, 'lninvoice', p.label, p.asset_id, p.asset_amount, { invoice, amt_msat: p.amt_msat }));
  return { invoice, label: p.label };
}
