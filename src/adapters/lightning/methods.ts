// ln.* methods: one surface over whichever Lightning backends are configured. With one backend every call goes to
// it; with two, a call names one with `backend`, or goes to ln.default. Invoices and payments made here are kept as
// records (listed while the node is down, marked stale) and reported on ln.invoice / ln.payment.

import { Type } from '@sinclair/typebox';
import { rpcError } from '../../rpc/errors.js';
import { defineMethod, withoutPreimages, type MethodSpec } from '../../rpc/registry.js';
import { checkInvoice } from './bolt11.js';
import { refuseWhileStarting, type BackendName } from './backend.js';
import { Bolt11, createInvoice, InvoiceOp, pay, PayOp, type LnParts } from './operations.js';
import { newestFirst } from './records.js';
import type { NodeWatch } from './watch.js';

export interface Configured extends LnParts {
  /** Publishes ln.channel / ln.peer changes; methods that change channels or peers ask it to look at once. */
  watch: NodeWatch;
}

/** Picks the backend for a call: the one named, the only one, or ln.default. */
export class BackendChooser {
  constructor(
    private readonly configured: Map<BackendName, Configured>,
    private readonly fallback: BackendName | undefined,
  ) {}

  pick(name: BackendName | undefined): Configured {
    const names = [...this.configured.keys()];
    const chosen = name ?? this.fallback ?? (names.length === 1 ? names[0] : undefined);
    if (chosen === undefined)
      throw rpcError('InvalidParams', `two Lightning backends are configured (${names.join(', ')}): name one with the backend param, or set ln.default`);
    const c = this.configured.get(chosen);
    if (!c) throw rpcError('InvalidParams', `backend '${chosen}' is not configured (configured: ${names.join(', ') || 'none'})`);
    refuseWhileStarting(c.backend);
    return c;
  }
}

const NodeId = Type.String({ pattern: '^0[23][0-9a-fA-F]{64}$', description: 'A node id (33-byte public key, hex).' });
const Hash = Type.String({ pattern: '^[0-9a-fA-F]{64}$', description: 'Payment hash, hex.' });
const Backend = Type.Optional(
  Type.Union([Type.Literal('cln'), Type.Literal('lnd')], { description: 'Which backend; needed only when both are configured and ln.default is not set.' }),
);
const OnlyBackend = Type.Object({ backend: Backend }, { additionalProperties: false });
const Page = Type.Object(
  {
    backend: Backend,
    limit: Type.Integer({ minimum: 1, maximum: 10_000, default: 1000, description: 'At most this many records, newest first.' }),
    offset: Type.Integer({ minimum: 0, default: 0, description: 'Skip this many of the newest first.' }),
  },
  { additionalProperties: false },
);

const InvoiceT = Type.Object({
  payment_hash: Type.String(),
  bolt11: Type.String(),
  label: Type.String({ description: "anyad's label (LND keeps none of its own)." }),
  description: Type.String(),
  amount_msat: Type.Union([Type.Integer(), Type.Null()]),
  status: Type.Union([Type.Literal('unpaid'), Type.Literal('paid'), Type.Literal('expired'), Type.Literal('canceled')]),
  created_at: Type.Union([Type.Integer(), Type.Null()]),
  expires_at: Type.Integer(),
  paid_at: Type.Optional(Type.Integer()),
  amount_received_msat: Type.Optional(Type.Integer()),
  stale: Type.Optional(Type.Boolean({ description: "From anyad's record because the node is not connected." })),
});
const PaymentT = Type.Object({
  payment_hash: Type.String(),
  bolt11: Type.String(),
  status: Type.Union([Type.Literal('pending'), Type.Literal('complete'), Type.Literal('failed')]),
  amount_msat: Type.Union([Type.Integer(), Type.Null()]),
  fee_msat: Type.Union([Type.Integer(), Type.Null()]),
  created_at: Type.Integer(),
  preimage: Type.Optional(Type.String()),
  error: Type.Optional(Type.String()),
});

export function lnMethods(chooser: BackendChooser): MethodSpec[] {
  const use = (p: { backend?: BackendName | undefined }): Configured => chooser.pick(p.backend);
  return [
    defineMethod({
      name: 'ln.getinfo',
      summary: 'The Lightning node: id, alias, network, block height, peers and channels.',
      params: OnlyBackend,
      result: Type.Object({
        backend: Type.String(),
        id: Type.String(),
        alias: Type.String(),
        network: Type.String(),
        block_height: Type.Integer(),
        num_peers: Type.Integer(),
        num_active_channels: Type.Integer(),
        version: Type.String(),
      }),
      role: 'readonly',
      handler: async (p) => {
        const { backend } = use(p);
        return { backend: backend.backend, ...(await backend.getInfo()) };
      },
    }),
    defineMethod({
      name: 'ln.balance',
      summary: 'On-chain funds (confirmed, unconfirmed) in sat and channel funds on our side in msat.',
      params: OnlyBackend,
      result: Type.Object({ onchain_confirmed_sat: Type.Integer(), onchain_unconfirmed_sat: Type.Integer(), channel_local_msat: Type.Integer() }),
      role: 'readonly',
      handler: (p) => use(p).backend.balance(),
    }),
    defineMethod({
      name: 'ln.listpeers',
      summary: 'Peers and whether they are connected (LND lists only connected ones).',
      params: OnlyBackend,
      result: Type.Array(Type.Object({ id: Type.String(), connected: Type.Boolean(), address: Type.Union([Type.String(), Type.Null()]) })),
      role: 'readonly',
      handler: (p) => use(p).backend.listPeers(),
    }),
    defineMethod({
      name: 'ln.connect',
      summary: 'Connect to a peer (LND needs host).',
      params: Type.Object(
        {
          id: NodeId,
          host: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
          port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
          backend: Backend,
        },
        { additionalProperties: false },
      ),
      result: Type.Object({ id: Type.String() }),
      role: 'admin',
      handler: async (p) => {
        const { backend, watch } = use(p);
        await backend.connect(p.id, p.host, p.port);
        await watch.tick();
        return { id: p.id };
      },
    }),
    defineMethod({
      name: 'ln.listchannels',
      summary: 'Our channels with their state and balances.',
      params: OnlyBackend,
      result: Type.Array(
        Type.Object({
          channel_id: Type.String({ description: "CLN's channel id, or LND's channel point txid:vout." }),
          short_channel_id: Type.Union([Type.String(), Type.Null()]),
          peer: Type.String(),
          state: Type.String(),
          active: Type.Boolean(),
          capacity_sat: Type.Integer(),
          local_msat: Type.Integer(),
          remote_msat: Type.Integer(),
        }),
      ),
      role: 'readonly',
      handler: (p) => use(p).backend.listChannels(),
    }),
    defineMethod({
      name: 'ln.openchannel',
      summary: "Open a channel to a connected peer, funded from the node's on-chain wallet.",
      params: Type.Object(
        { peer: NodeId, amount_sat: Type.Integer({ minimum: 1, maximum: 2_100_000_000_000_000 }), backend: Backend },
        { additionalProperties: false },
      ),
      result: Type.Object({ txid: Type.String(), channel_id: Type.String() }),
      role: 'admin',
      handler: async (p) => {
        const { backend, watch } = use(p);
        const r = await backend.openChannel(p.peer, p.amount_sat);
        await watch.tick();
        return r;
      },
    }),
    defineMethod({
      name: 'ln.closechannel',
      summary: 'Close a channel cooperatively (by channel id or channel point, short channel id, or peer id).',
      params: Type.Object({ channel: Type.String({ minLength: 1, maxLength: 100 }), backend: Backend }, { additionalProperties: false }),
      result: Type.Object({ type: Type.String(), txid: Type.Union([Type.String(), Type.Null()]) }),
      role: 'admin',
      handler: async (p) => {
        const { backend, watch } = use(p);
        const r = await backend.closeChannel(p.channel);
        await watch.tick();
        return r;
      },
    }),
    defineMethod({
      name: 'ln.createinvoice',
      summary: 'Create a BOLT11 invoice; kept as a record and reported on ln.invoice.',
      params: Type.Object({ ...InvoiceOp.properties, backend: Backend }, { additionalProperties: false }),
      result: Type.Object({ payment_hash: Type.String(), bolt11: Type.String(), expires_at: Type.Integer(), label: Type.String() }),
      role: 'user',
      handler: (p) => createInvoice(use(p), p),
    }),
    defineMethod({
      name: 'ln.lookupinvoice',
      summary: "An invoice by payment hash, from the node (or anyad's record, marked stale, while the node is down).",
      params: Type.Object({ payment_hash: Hash, backend: Backend }, { additionalProperties: false }),
      result: InvoiceT,
      role: 'readonly',
      handler: async (p) => {
        const { backend, records } = use(p);
        if (!backend.connected) {
          const rec = await records.invoice(p.payment_hash.toLowerCase());
          if (!rec) throw rpcError('NotFound', `no invoice ${p.payment_hash} in anyad's records, and ${backend.backend} is not connected`);
          return { ...rec, stale: true };
        }
        const inv = await backend.lookupInvoice(p.payment_hash.toLowerCase());
        if (!inv) throw rpcError('NotFound', `no invoice ${p.payment_hash}`);
        return inv;
      },
    }),
    defineMethod({
      name: 'ln.listinvoices',
      summary: 'Invoices made through anyad, newest first, with their status (stale: the node is not connected).',
      params: Page,
      result: Type.Object({ backend: Type.String(), stale: Type.Boolean(), total: Type.Integer(), invoices: Type.Array(InvoiceT) }),
      role: 'readonly',
      handler: async (p) => {
        const { backend, records } = use(p);
        const { total, items } = newestFirst(await records.invoices(), p.limit, p.offset);
        return { backend: backend.backend, stale: !backend.connected, total, invoices: items };
      },
    }),
    defineMethod({
      name: 'ln.decode',
      summary: 'Decode a BOLT11 invoice (the node checks it).',
      params: Type.Object({ invoice: Bolt11, backend: Backend }, { additionalProperties: false }),
      result: Type.Object({
        payment_hash: Type.String(),
        payee: Type.String(),
        amount_msat: Type.Union([Type.Integer(), Type.Null()]),
        description: Type.String(),
        created_at: Type.Integer(),
        expires_at: Type.Integer(),
      }),
      role: 'readonly',
      handler: (p) => {
        const { backend, network } = use(p);
        checkInvoice(p.invoice, network);
        return backend.decode(p.invoice);
      },
    }),
    defineMethod({
      name: 'ln.pay',
      summary: 'Pay a BOLT11 invoice, with a fee cap and a time limit.',
      params: Type.Object({ ...PayOp.properties, backend: Backend }, { additionalProperties: false }),
      result: Type.Object({
        payment_hash: Type.String(),
        status: Type.Union([Type.Literal('complete'), Type.Literal('pending')], {
          description: 'pending: the node is still paying (lightningd 200, LND in flight); ln.payment tells how it ends.',
        }),
        amount_msat: Type.Union([Type.Integer(), Type.Null()]),
        fee_msat: Type.Union([Type.Integer(), Type.Null()]),
        preimage: Type.Union([Type.String(), Type.Null()]),
      }),
      errors: ['Conflict', 'BackendRejected', 'BackendUnavailable'],
      role: 'admin',
      handler: (p) => pay(use(p), p),
    }),
    defineMethod({
      name: 'ln.listpayments',
      summary: 'Payments made through anyad, newest first, with their status (stale: the node is not connected); preimages for the user and admin roles only.',
      params: Page,
      result: Type.Object({ backend: Type.String(), stale: Type.Boolean(), total: Type.Integer(), payments: Type.Array(PaymentT) }),
      role: 'readonly',
      handler: async (p, ctx) => {
        const { backend, records } = use(p);
        const { total, items } = newestFirst(await records.payments(), p.limit, p.offset);
        return { backend: backend.backend, stale: !backend.connected, total, payments: withoutPreimages(items, ctx.role) };
      },
    }),
  ];
}
