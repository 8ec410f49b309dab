// The declarations of methods (name, summary, params and result schemas, role, errors): data that the docs and
// the daemon read without the room's code; the handlers are bound in the room's methods module.

import { declareMethod, type MethodDeclaration } from '../../core/methods.js';
import { Type } from '@sinclair/typebox';

export const Bolt11 = Type.String({ minLength: 10, maxLength: 8000, pattern: '^ln[a-z0-9]+$', description: 'A BOLT11 invoice.' });

export const PayOp = Type.Object(
  {
    invoice: Bolt11,
    max_fee_msat: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_100_000_000_000_000_000 })),
    timeout: Type.Integer({ minimum: 1, maximum: 3600, default: 60, description: 'Seconds to keep trying.' }),
  },
  { additionalProperties: false },
);

export const InvoiceOp = Type.Object(
  {
    amount_msat: Type.Union([Type.Integer({ minimum: 1, maximum: 2_100_000_000_000_000_000 }), Type.Null()], {
      description: 'Amount, or null for any amount.',
    }),
    description: Type.String({ maxLength: 639 }),
    expiry: Type.Integer({ minimum: 60, maximum: 31_536_000, default: 3600, description: 'Seconds.' }),
    label: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  },
  { additionalProperties: false },
);

export const FeeOp = Type.Object({ invoice: Bolt11 }, { additionalProperties: false });

export const NodeId = Type.String({ pattern: '^0[23][0-9a-fA-F]{64}$', description: 'A node id (33-byte public key, hex).' });

export const KeysendOp = Type.Object(
  {
    destination: NodeId,
    // Exact as a JSON number (2^53 - 1 msat: some 90,000 BTC, beyond any channel).
    amount_msat: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
    max_fee_msat: PayOp.properties.max_fee_msat,
    timeout: PayOp.properties.timeout,
  },
  { additionalProperties: false },
);

export const Hash = Type.String({ pattern: '^[0-9a-fA-F]{64}$', description: 'Payment hash, hex.' });

export const Backend = Type.Optional(
  Type.Union([Type.Literal('cln'), Type.Literal('lnd'), Type.Literal('ldk')], {
    description: 'Which backend; needed only when more than one is configured and ln.default is not set.',
  }),
);

export const OnlyBackend = Type.Object({ backend: Backend }, { additionalProperties: false });

export const Page = Type.Object(
  {
    backend: Backend,
    limit: Type.Integer({ minimum: 1, maximum: 10_000, default: 1000, description: 'At most this many records, newest first.' }),
    offset: Type.Integer({ minimum: 0, default: 0, description: 'Skip this many of the newest first.' }),
  },
  { additionalProperties: false },
);

export const InvoiceT = Type.Object({
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
  keysend: Type.Optional(Type.Boolean({ description: 'A spontaneous payment received (keysend): no invoice was made for it, bolt11 is empty.' })),
  stale: Type.Optional(Type.Boolean({ description: "From anyad's record because the node is not connected." })),
});

export const PaymentT = Type.Object({
  payment_hash: Type.String(),
  bolt11: Type.String(),
  status: Type.Union([Type.Literal('pending'), Type.Literal('complete'), Type.Literal('failed')]),
  amount_msat: Type.Union([Type.Integer(), Type.Null()]),
  fee_msat: Type.Union([Type.Integer(), Type.Null()]),
  created_at: Type.Integer(),
  preimage: Type.Optional(
    Type.String({
      description:
        'Proof of payment (hex), for the user and admin roles. Kept sealed by the HSM room; without an HSM room anyad keeps none and reads it from the node, so it is absent while the node is away (stale).',
    }),
  ),
  error: Type.Optional(Type.String()),
  destination: Type.Optional(Type.String({ description: 'A keysend: the node paid (bolt11 is empty).' })),
});

export const lnGetinfo = declareMethod({
  name: 'ln.getinfo',
  summary: 'The Lightning node: id, alias, network, block height, peers and channels.',
  params: OnlyBackend,
  result: Type.Object({
    backend: Type.String(),
    id: Type.String(),
    alias: Type.String(),
    network: Type.String(),
    block_height: Type.Integer(),
    block_hash: Type.Optional(
      Type.String({ pattern: '^[0-9a-f]{64}$', description: "The node's best block (LND and the embedded LDK node; Core Lightning's getinfo has none)." }),
    ),
    num_peers: Type.Integer(),
    num_active_channels: Type.Integer(),
    version: Type.String(),
  }),
  role: 'readonly',
});

export const lnBalance = declareMethod({
  name: 'ln.balance',
  summary: 'On-chain funds (confirmed, unconfirmed) in sat and channel funds on our side in msat.',
  params: OnlyBackend,
  result: Type.Object({ onchain_confirmed_sat: Type.Integer(), onchain_unconfirmed_sat: Type.Integer(), channel_local_msat: Type.Integer() }),
  role: 'readonly',
});

export const lnListpeers = declareMethod({
  name: 'ln.listpeers',
  summary: 'Peers and whether they are connected (LND lists only connected ones).',
  params: OnlyBackend,
  result: Type.Array(Type.Object({ id: Type.String(), connected: Type.Boolean(), address: Type.Union([Type.String(), Type.Null()]) })),
  role: 'readonly',
});

export const lnConnect = declareMethod({
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
});

export const lnListchannels = declareMethod({
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
});

export const lnOpenchannel = declareMethod({
  name: 'ln.openchannel',
  summary: "Open a channel to a connected peer, funded from the node's on-chain wallet.",
  params: Type.Object(
    { peer: NodeId, amount_sat: Type.Integer({ minimum: 1, maximum: 2_100_000_000_000_000 }), backend: Backend },
    { additionalProperties: false },
  ),
  result: Type.Object({ txid: Type.String(), channel_id: Type.String() }),
  role: 'admin',
});

export const lnClosechannel = declareMethod({
  name: 'ln.closechannel',
  summary: 'Close a channel cooperatively (by channel id or channel point, short channel id, or peer id), or force it closed.',
  params: Type.Object(
    {
      channel: Type.String({ minLength: 1, maxLength: 100 }),
      force: Type.Optional(
        Type.Boolean({
          description:
            "Broadcast the latest commitment instead of negotiating a close; the funds come back after the delay. LND and LDK broadcast at once; Core Lightning has no immediate force close: its `close` with unilateraltimeout 1 (closes unilaterally after one second unless a mutual close completed first; the answer's type says which).",
        }),
      ),
      backend: Backend,
    },
    { additionalProperties: false },
  ),
  result: Type.Object({
    type: Type.String({ description: "'mutual' (cooperative) or 'unilateral' (forced); Core Lightning may also say 'unopened'" }),
    txid: Type.Union([Type.String(), Type.Null()]),
  }),
  role: 'admin',
});

export const lnCreateinvoice = declareMethod({
  name: 'ln.createinvoice',
  summary: 'Create a BOLT11 invoice; kept as a record and reported on ln.invoice.',
  params: Type.Object({ ...InvoiceOp.properties, backend: Backend }, { additionalProperties: false }),
  result: Type.Object({ payment_hash: Type.String(), bolt11: Type.String(), expires_at: Type.Integer(), label: Type.String() }),
  role: 'user',
});

export const lnLookupinvoice = declareMethod({
  name: 'ln.lookupinvoice',
  summary: "An invoice by payment hash, from the node (or anyad's record, marked stale, while the node is down).",
  params: Type.Object({ payment_hash: Hash, backend: Backend }, { additionalProperties: false }),
  result: InvoiceT,
  role: 'readonly',
});

export const lnListinvoices = declareMethod({
  name: 'ln.listinvoices',
  summary: 'Invoices made through anyad, newest first, with their status (stale: the node is not connected).',
  params: Page,
  result: Type.Object({ backend: Type.String(), stale: Type.Boolean(), total: Type.Integer(), invoices: Type.Array(InvoiceT) }),
  role: 'readonly',
});

export const lnDecode = declareMethod({
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
});

const PaidT = Type.Object({
  payment_hash: Type.String(),
  status: Type.Union([Type.Literal('complete'), Type.Literal('pending')], {
    description: 'pending: the node is still paying (lightningd 200, LND in flight, LDK past `timeout`); ln.payment tells how it ends.',
  }),
  amount_msat: Type.Union([Type.Integer(), Type.Null()]),
  fee_msat: Type.Union([Type.Integer(), Type.Null()]),
  preimage: Type.Union([Type.String(), Type.Null()]),
});

export const lnPay = declareMethod({
  name: 'ln.pay',
  summary: 'Pay a BOLT11 invoice, with a fee cap and a time limit.',
  params: Type.Object({ ...PayOp.properties, backend: Backend }, { additionalProperties: false }),
  result: PaidT,
  errors: ['Conflict', 'BackendRejected', 'BackendUnavailable'],
  role: 'admin',
});

export const lnKeysend = declareMethod({
  name: 'ln.keysend',
  summary:
    "Pay a node without an invoice (keysend): anyad draws the preimage, the payee learns it from the onion; recorded and reported as ln.pay's payments are.",
  params: Type.Object({ ...KeysendOp.properties, backend: Backend }, { additionalProperties: false }),
  result: PaidT,
  errors: ['BackendRejected', 'BackendUnavailable', 'Unsupported'],
  role: 'admin',
});

export const lnListpayments = declareMethod({
  name: 'ln.listpayments',
  summary: 'Payments made through anyad, newest first, with their status (stale: the node is not connected); preimages for the user and admin roles only.',
  params: Page,
  result: Type.Object({ backend: Type.String(), stale: Type.Boolean(), total: Type.Integer(), payments: Type.Array(PaymentT) }),
  role: 'readonly',
});

export const LN_METHODS: readonly MethodDeclaration[] = [
  lnGetinfo,
  lnBalance,
  lnListpeers,
  lnConnect,
  lnListchannels,
  lnOpenchannel,
  lnClosechannel,
  lnCreateinvoice,
  lnLookupinvoice,
  lnListinvoices,
  lnDecode,
  lnPay,
  lnKeysend,
  lnListpayments,
];
