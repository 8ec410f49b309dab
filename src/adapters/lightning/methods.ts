// ln.* methods. The backend is chosen by config (Core Lightning now; LND is not in this build).

import { randomBytes } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { EventBus } from '../../rpc/events.js';
import { rpcError } from '../../rpc/errors.js';
import { defineMethod, type MethodSpec } from '../../rpc/registry.js';
import type { ClnBackend, InvoiceRecord, PaymentRecord } from './cln.js';

const NodeId = Type.String({ pattern: '^0[23][0-9a-fA-F]{64}$', description: 'A node id (33-byte public key, hex).' });
const Hash = Type.String({ pattern: '^[0-9a-fA-F]{64}$', description: 'Payment hash, hex.' });
const Invoice = Type.String({ minLength: 10, maxLength: 8000, pattern: '^ln[a-z0-9]+$', description: 'A BOLT11 invoice.' });
const NoParams = Type.Object({}, { additionalProperties: false });
const Backend = Type.Optional(Type.Literal('cln', { description: 'Which backend (only cln is configured in this build).' }));
const Any = Type.Unknown();

export function lnMethods(cln: ClnBackend, bus: EventBus): MethodSpec[] {
  return [
    defineMethod({
      name: 'ln.getinfo',
      summary: 'The Lightning node: id, alias, network, block height, peers and channels.',
      params: Type.Object({ backend: Backend }, { additionalProperties: false }),
      result: Type.Object({ backend: Type.String(), id: Type.String(), alias: Type.String(), network: Type.String(), block_height: Type.Integer(), num_peers: Type.Integer(), num_active_channels: Type.Integer(), version: Type.String() }),
      role: 'readonly',
      handler: async () => {
        const i = await cln.call<{ id: string; alias: string; network: string; blockheight: number; num_peers: number; num_active_channels: number; version: string }>('getinfo');
        return { backend: 'cln', id: i.id, alias: i.alias, network: i.network, block_height: i.blockheight, num_peers: i.num_peers, num_active_channels: i.num_active_channels, version: i.version };
      },
    }),
    defineMethod({
      name: 'ln.balance',
      summary: 'On-chain funds (confirmed, unconfirmed) in sat and channel funds on our side in msat.',
      params: Type.Object({ backend: Backend }, { additionalProperties: false }),
      result: Type.Object({ onchain_confirmed_sat: Type.Integer(), onchain_unconfirmed_sat: Type.Integer(), channel_local_msat: Type.Integer() }),
      role: 'readonly',
      handler: async () => {
        const f = await cln.call<{ outputs: Array<{ amount_msat: number; status: string }>; channels: Array<{ our_amount_msat: number }> }>('listfunds');
        const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
        return {
          onchain_confirmed_sat: Math.floor(sum(f.outputs.filter((o) => o.status === 'confirmed').map((o) => o.amount_msat)) / 1000),
          onchain_unconfirmed_sat: Math.floor(sum(f.outputs.filter((o) => o.status !== 'confirmed').map((o) => o.amount_msat)) / 1000),
          channel_local_msat: sum(f.channels.map((c) => c.our_amount_msat)),
        };
      },
    }),
    defineMethod({ name: 'ln.listpeers', summary: 'Peers and whether they are connected.', params: NoParams, result: Any, role: 'readonly', handler: async () => (await cln.call<{ peers: unknown[] }>('listpeers')).peers }),
    defineMethod({
      name: 'ln.connect',
      summary: 'Connect to a peer.',
      params: Type.Object({ id: NodeId, host: Type.Optional(Type.String({ maxLength: 255 })), port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })) }, { additionalProperties: false }),
      result: Type.Object({ id: Type.String() }),
      role: 'admin',
      handler: async ({ id, host, port }) => {
        const r = await cln.call<{ id: string }>('connect', { id, ...(host ? { host } : {}), ...(port ? { port } : {}) });
        bus.publish('ln.peer', { backend: 'cln', status: 'connected', id: r.id });
        return { id: r.id };
      },
    }),
    defineMethod({ name: 'ln.listchannels', summary: 'Our channels with their state and balances.', params: NoParams, result: Any, role: 'readonly', handler: async () => (await cln.call<{ channels: unknown[] }>('listpeerchannels')).channels }),
    defineMethod({
      name: 'ln.openchannel',
      summary: 'Open a channel to a connected peer, funded from the node\'s on-chain wallet.',
      params: Type.Object({ peer: NodeId, amount_sat: Type.Integer({ minimum: 1, maximum: 2_100_000_000_000_000 }) }, { additionalProperties: false }),
      result: Type.Object({ txid: Type.String(), channel_id: Type.String() }),
      role: 'admin',
      handler: async ({ peer, amount_sat }) => {
        const r = await cln.call<{ txid: string; channel_id: string }>('fundchannel', { id: peer, amount: amount_sat });
        bus.publish('ln.channel', { backend: 'cln', status: 'pending', peer, channel_id: r.channel_id, txid: r.txid });
        return { txid: r.txid, channel_id: r.channel_id };
      },
    }),
    defineMethod({
      name: 'ln.closechannel',
      summary: 'Close a channel (by channel id, short channel id or peer id).',
      params: Type.Object({ channel: Type.String({ minLength: 1, maxLength: 100 }) }, { additionalProperties: false }),
      result: Type.Object({ type: Type.String(), txid: Type.Union([Type.String(), Type.Null()]) }),
      role: 'admin',
      handler: async ({ channel }) => {
        const r = await cln.call<{ type: string; txid?: string }>('close', { id: channel });
        bus.publish('ln.channel', { backend: 'cln', status: 'closed', channel, type: r.type });
        return { type: r.type, txid: r.txid ?? null };
      },
    }),
    defineMethod({
      name: 'ln.createinvoice',
      summary: 'Create a BOLT11 invoice; kept as a record and reported on ln.invoice.',
      params: Type.Object({ amount_msat: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()], { description: 'Amount, or null for any amount.' }), description: Type.String({ maxLength: 639 }), expiry: Type.Integer({ minimum: 60, maximum: 31_536_000, default: 3600, description: 'Seconds.' }), label: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })) }, { additionalProperties: false }),
      result: Type.Object({ payment_hash: Type.String(), bolt11: Type.String(), expires_at: Type.Integer(), label: Type.String() }),
      role: 'user',
      handler: async ({ amount_msat, description, expiry, label }) => {
        const lbl = label ?? `anya-${Date.now()}-${randomBytes(4).toString('hex')}`;
        const r = await cln.call<{ payment_hash: string; bolt11: string; expires_at: number }>('invoice', { amount_msat: amount_msat ?? 'any', label: lbl, description, expiry });
        const rec: InvoiceRecord = { payment_hash: r.payment_hash, bolt11: r.bolt11, label: lbl, description, amount_msat, status: 'unpaid', created_at: Math.floor(Date.now() / 1000), expires_at: r.expires_at };
        await cln.saveInvoice(rec);
        bus.publish('ln.invoice', { backend: 'cln', status: 'created', payment_hash: r.payment_hash, label: lbl, amount_msat });
        return { payment_hash: r.payment_hash, bolt11: r.bolt11, expires_at: r.expires_at, label: lbl };
      },
    }),
    defineMethod({
      name: 'ln.lookupinvoice',
      summary: 'An invoice by payment hash, from lightningd (or the record, marked stale, while it is down).',
      params: Type.Object({ payment_hash: Hash }, { additionalProperties: false }),
      result: Any,
      role: 'readonly',
      handler: async ({ payment_hash }) => {
        if (!cln.connected) {
          const rec = (await cln.records<InvoiceRecord>('inv')).find((r) => r.payment_hash === payment_hash);
          if (!rec) throw rpcError('NotFound', `no invoice ${payment_hash} in anyad's records, and lightningd is not connected`);
          return { ...rec, stale: true };
        }
        const r = await cln.call<{ invoices: unknown[] }>('listinvoices', { payment_hash });
        if (r.invoices.length === 0) throw rpcError('NotFound', `no invoice ${payment_hash}`);
        return r.invoices[0];
      },
    }),
    defineMethod({
      name: 'ln.listinvoices',
      summary: 'Invoices made through anyad, with their status (stale: lightningd is not connected).',
      params: NoParams,
      result: Type.Object({ stale: Type.Boolean(), invoices: Type.Array(Any) }),
      role: 'readonly',
      handler: async () => ({ stale: !cln.connected, invoices: await cln.records<InvoiceRecord>('inv') }),
    }),
    defineMethod({ name: 'ln.decode', summary: 'Decode a BOLT11 invoice (lightningd checks it).', params: Type.Object({ invoice: Invoice }, { additionalProperties: false }), result: Any, role: 'readonly', handler: ({ invoice }) => cln.call('decode', { string: invoice }) }),
    defineMethod({
      name: 'ln.pay',
      summary: 'Pay a BOLT11 invoice, with a fee cap and a time limit.',
      params: Type.Object({ invoice: Invoice, max_fee_msat: Type.Optional(Type.Integer({ minimum: 0 })), timeout: Type.Integer({ minimum: 1, maximum: 3600, default: 60, description: 'Seconds to keep trying.' }) }, { additionalProperties: false }),
      result: Type.Object({ payment_hash: Type.String(), status: Type.String(), amount_msat: Type.Integer(), fee_msat: Type.Integer(), preimage: Type.String() }),
      role: 'admin',
      handler: async ({ invoice, max_fee_msat, timeout }) => {
        const dec = await cln.call<{ payment_hash: string; amount_msat?: number }>('decode', { string: invoice });
        const base: PaymentRecord = { payment_hash: dec.payment_hash, bolt11: invoice, status: 'pending', amount_msat: dec.amount_msat ?? null, fee_msat: null, created_at: Math.floor(Date.now() / 1000) };
        await cln.savePayment(base);
        try {
          const r = await cln.call<{ payment_hash: string; amount_msat: number; amount_sent_msat: number; payment_preimage: string; status: string }>('pay', { bolt11: invoice, retry_for: timeout, ...(max_fee_msat !== undefined ? { maxfee: max_fee_msat } : {}) });
          const fee = r.amount_sent_msat - r.amount_msat;
          await cln.savePayment({ ...base, status: 'complete', amount_msat: r.amount_msat, fee_msat: fee, preimage: r.payment_preimage });
          bus.publish('ln.payment', { backend: 'cln', status: 'succeeded', payment_hash: r.payment_hash, amount_msat: r.amount_msat, fee_msat: fee });
          return { payment_hash: r.payment_hash, status: r.status, amount_msat: r.amount_msat, fee_msat: fee, preimage: r.payment_preimage };
        } catch (err) {
          await cln.savePayment({ ...base, status: 'failed', error: (err as Error).message });
          bus.publish('ln.payment', { backend: 'cln', status: 'failed', payment_hash: dec.payment_hash, reason: (err as Error).message });
          throw err;
        }
      },
    }),
    defineMethod({
      name: 'ln.listpayments',
      summary: 'Payments made through anyad, with their status (stale: lightningd is not connected).',
      params: NoParams,
      result: Type.Object({ stale: Type.Boolean(), payments: Type.Array(Any) }),
      role: 'readonly',
      handler: async () => ({ stale: !cln.connected, payments: await cln.records<PaymentRecord>('pay') }),
    }),
  ];
}
