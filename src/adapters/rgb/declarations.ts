// The declarations of methods (name, summary, params and result schemas, role, errors): data that the docs and
// the daemon read without the room's code; the handlers are bound in the room's methods module.

import { declareMethod, NoParams, type MethodDeclaration } from '../../core/methods.js';
import { Type } from '@sinclair/typebox';

export const AssetId = Type.String({ minLength: 4, maxLength: 100, description: 'An RGB contract id, rgb:… (baid64).' });
export const Label = Type.String({ maxLength: 200, default: '', description: "anyad's label for the operation (kept in anyad's records, shown in events)." });

export const Amount = Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'Asset units (the smallest unit, before precision).' });

export const FeeRate = Type.Number({ exclusiveMinimum: 0, maximum: 100_000, description: 'Fee rate of the BTC transaction, sat/vB (at most rgb.maxfeerate).' });

export const MinConf = Type.Integer({ minimum: 0, maximum: 255, default: 1, description: 'Confirmations before the transfer is settled.' });

export const IssueParams = Type.Object(
  {
    schema: Type.Union([Type.Literal('nia'), Type.Literal('cfa'), Type.Literal('uda')], {
      description: 'nia: a fungible asset with a ticker; cfa: a collectible fungible asset; uda: a unique (non-fungible) asset.',
    }),
    name: Type.String({ minLength: 1, maxLength: 256 }),
    ticker: Type.Optional(Type.String({ pattern: '^[A-Z][A-Z0-9]{0,7}$', description: 'nia and uda: 1 to 8 capitals and digits, a capital first.' })),
    details: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
    precision: Type.Integer({ minimum: 0, maximum: 18, default: 0, description: 'Decimal places the units are shown with.' }),
    amounts: Type.Optional(Type.Array(Amount, { minItems: 1, maxItems: 32, description: 'nia and cfa: the issued amounts, one allocation (UTXO) each.' })),
    label: Label,
  },
  { additionalProperties: false },
);

export const InvoiceParams = Type.Object(
  {
    asset_id: Type.Optional(AssetId),
    amount: Type.Optional(Amount),
    duration_seconds: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 31_536_000, description: 'Seconds the invoice is valid (the node default when left out).' }),
    ),
    min_confirmations: MinConf,
    witness: Type.Boolean({ default: false, description: 'A witness receive (wvout: the payer sends to an address) instead of a blinded UTXO (utxob).' }),
    label: Label,
  },
  { additionalProperties: false },
);

export const SendParams = Type.Object(
  {
    invoice: Type.String({ minLength: 5, maxLength: 4000, description: 'The RGB invoice to pay (rgb:…).' }),
    asset_id: Type.Optional(AssetId),
    amount: Type.Optional(Amount),
    fee_rate: FeeRate,
    min_confirmations: MinConf,
    donation: Type.Boolean({
      default: false,
      description: 'Broadcast at once, without waiting for the recipient to accept the consignment (the node’s donation mode).',
    }),
    label: Label,
  },
  { additionalProperties: false },
);

export const LnInvoiceParams = Type.Object(
  {
    asset_id: AssetId,
    asset_amount: Amount,
    amt_msat: Type.Integer({
      minimum: 1,
      maximum: Number.MAX_SAFE_INTEGER,
      default: 3_000_000,
      description: 'BTC carried along (RGB HTLCs need at least the node’s rgb_htlc_min_msat).',
    }),
    expiry_sec: Type.Integer({ minimum: 1, maximum: 31_536_000, default: 420 }),
    label: Label,
  },
  { additionalProperties: false },
);

export const IssueResult = Type.Object({
  asset_id: Type.String(),
  schema: Type.String(),
  name: Type.String(),
  ticker: Type.Union([Type.String(), Type.Null()]),
  precision: Type.Integer(),
  issued_supply: Type.Union([Type.Integer(), Type.Null()]),
  label: Type.String(),
});
export const InvoiceResult = Type.Object({
  invoice: Type.String(),
  recipient_id: Type.String(),
  expiration_timestamp: Type.Union([Type.Integer(), Type.Null()]),
  batch_transfer_idx: Type.Union([Type.Integer(), Type.Null()]),
  label: Type.String(),
});
export const SendResult = Type.Object({
  txid: Type.String(),
  asset_id: Type.String(),
  amount: Type.Integer(),
  recipient_id: Type.String(),
  label: Type.String(),
});
export const LnInvoiceResult = Type.Object({ invoice: Type.String(), label: Type.String() });

export const BalanceT = Type.Object({
  settled: Type.Integer(),
  future: Type.Integer(),
  spendable: Type.Integer(),
  offchain_outbound: Type.Integer(),
  offchain_inbound: Type.Integer(),
});

export const AssetT = Type.Object({
  asset_id: Type.String(),
  schema: Type.Union([Type.Literal('nia'), Type.Literal('cfa'), Type.Literal('uda')]),
  ticker: Type.Union([Type.String(), Type.Null()]),
  name: Type.String(),
  details: Type.Union([Type.String(), Type.Null()]),
  precision: Type.Integer(),
  issued_supply: Type.Union([Type.Integer(), Type.Null()]),
  timestamp: Type.Integer(),
  added_at: Type.Integer(),
  balance: BalanceT,
});

export const StatusT = Type.Union([
  Type.Literal('waiting_counterparty'),
  Type.Literal('waiting_confirmations'),
  Type.Literal('settled'),
  Type.Literal('failed'),
]);

export const TransferT = Type.Object({
  asset_id: Type.String(),
  idx: Type.Integer(),
  kind: Type.Union([Type.Literal('issuance'), Type.Literal('receive_blind'), Type.Literal('receive_witness'), Type.Literal('send'), Type.Literal('inflation')]),
  status: StatusT,
  amount: Type.Integer(),
  txid: Type.Union([Type.String(), Type.Null()]),
  recipient_id: Type.Union([Type.String(), Type.Null()]),
  receive_utxo: Type.Union([Type.String(), Type.Null()]),
  change_utxo: Type.Union([Type.String(), Type.Null()]),
  expiration: Type.Union([Type.Integer(), Type.Null()]),
  created_at: Type.Integer(),
  updated_at: Type.Integer(),
});
export const OpT = Type.Object({
  id: Type.String(),
  operation: Type.Union([Type.Literal('issue'), Type.Literal('invoice'), Type.Literal('send'), Type.Literal('lninvoice')]),
  label: Type.String(),
  created_at: Type.Integer(),
  asset_id: Type.Union([Type.String(), Type.Null()]),
  amount: Type.Union([Type.Integer(), Type.Null()]),
  detail: Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()])),
});

export const Stale = Type.Boolean({ description: "From anyad's records because the node is not usable now (away, locked)." });

export const rgbGetinfo = declareMethod({
  name: 'rgb.getinfo',
  summary: 'The RGB node: public key, network, height, channels and peers, and whether it is usable (unlocked, on anyad’s network).',
  params: NoParams,
  result: Type.Object({
    state: Type.String({ description: 'ok, degraded (locked), unavailable or failed (another network), as in health.' }),
    detail: Type.String(),
    pubkey: Type.Union([Type.String(), Type.Null()]),
    network: Type.Union([Type.String(), Type.Null()]),
    height: Type.Union([Type.Integer(), Type.Null()]),
    num_channels: Type.Union([Type.Integer(), Type.Null()]),
    num_peers: Type.Union([Type.Integer(), Type.Null()]),
  }),
  role: 'readonly',
});

export const rgbUnlock = declareMethod({
  name: 'rgb.unlock',
  summary: 'Unlocks the RGB node (its password and the bitcoind and indexer it should use); the secrets go to the node only, never to a log.',
  params: Type.Object(
    {
      password: Type.String({ minLength: 1, maxLength: 1000 }),
      bitcoind_rpc_username: Type.String({ maxLength: 1000 }),
      bitcoind_rpc_password: Type.String({ maxLength: 1000 }),
      bitcoind_rpc_host: Type.String({ minLength: 1, maxLength: 300 }),
      bitcoind_rpc_port: Type.Integer({ minimum: 1, maximum: 65535 }),
      indexer_url: Type.Optional(Type.String({ minLength: 1, maxLength: 300 })),
      proxy_endpoint: Type.Optional(Type.String({ minLength: 1, maxLength: 300 })),
      announce_addresses: Type.Array(Type.String({ maxLength: 300 }), { maxItems: 16, default: [] }),
      announce_alias: Type.Optional(Type.String({ maxLength: 32 })),
    },
    { additionalProperties: false },
  ),
  result: Type.Object({ state: Type.String(), detail: Type.String() }),
  role: 'admin',
  errors: ['BackendUnavailable', 'BackendRejected', 'Unsupported'],
});

export const rgbLock = declareMethod({
  name: 'rgb.lock',
  summary: 'Locks the RGB node (it then refuses everything until rgb.unlock).',
  params: NoParams,
  result: Type.Object({ state: Type.String(), detail: Type.String() }),
  role: 'admin',
  errors: ['BackendUnavailable', 'BackendRejected', 'Locked'],
});

export const rgbListassets = declareMethod({
  name: 'rgb.listassets',
  summary:
    'The node’s RGB assets (NIA, CFA, UDA) with their balances (settled, future, spendable); anyad’s last picture, marked stale, while the node is away.',
  params: Type.Object(
    { schemas: Type.Optional(Type.Array(Type.Union([Type.Literal('nia'), Type.Literal('cfa'), Type.Literal('uda')]), { maxItems: 3, uniqueItems: true })) },
    { additionalProperties: false },
  ),
  result: Type.Object({ stale: Stale, assets: Type.Array(AssetT) }),
  role: 'readonly',
  errors: ['BackendUnavailable', 'Locked'],
});

export const rgbAssetbalance = declareMethod({
  name: 'rgb.assetbalance',
  summary: 'One asset’s balance on the node: settled, future (with pending transfers), spendable, and in Lightning channels.',
  params: Type.Object({ asset_id: AssetId }, { additionalProperties: false }),
  result: BalanceT,
  role: 'readonly',
  errors: ['BackendUnavailable', 'Locked', 'NotFound'],
});

export const rgbIssueasset = declareMethod({
  name: 'rgb.issueasset',
  summary: 'Issues an RGB asset on the node: nia (ticker, amounts), cfa (amounts) or uda (one unique token); needs colorable UTXOs (rgb.createutxos).',
  params: IssueParams,
  result: IssueResult,
  role: 'admin',
  errors: ['BackendUnavailable', 'BackendRejected', 'Locked'],
});

export const rgbCreateinvoice = declareMethod({
  name: 'rgb.createinvoice',
  summary: 'An RGB invoice to receive an asset on chain (blinded UTXO, or witness output with witness=true), recorded with its label.',
  params: InvoiceParams,
  result: InvoiceResult,
  role: 'user',
  errors: ['BackendUnavailable', 'BackendRejected', 'Locked', 'NotFound'],
});

export const rgbDecodeinvoice = declareMethod({
  name: 'rgb.decodeinvoice',
  summary: 'What an RGB invoice asks for (asset, amount, recipient, expiry, transport endpoints), refused when it is for another network.',
  params: Type.Object({ invoice: SendParams.properties.invoice }, { additionalProperties: false }),
  result: Type.Object({
    recipient_id: Type.String(),
    asset_schema: Type.Union([Type.String(), Type.Null()]),
    asset_id: Type.Union([Type.String(), Type.Null()]),
    amount: Type.Union([Type.Integer(), Type.Null()]),
    network: Type.String(),
    expiration_timestamp: Type.Union([Type.Integer(), Type.Null()]),
    transport_endpoints: Type.Array(Type.String()),
  }),
  role: 'readonly',
  errors: ['BackendUnavailable', 'Locked'],
});

export const rgbSendasset = declareMethod({
  name: 'rgb.sendasset',
  summary:
    'Pays an RGB invoice: checks its network, asset, amount, expiry and the spendable balance first, then sends on chain (fee rate capped by rgb.maxfeerate).',
  params: SendParams,
  result: SendResult,
  role: 'admin',
  errors: ['BackendUnavailable', 'BackendRejected', 'Locked', 'NotFound', 'PolicyDenied'],
});

export const rgbRefresh = declareMethod({
  name: 'rgb.refresh',
  summary: 'Asks the node to move pending transfers on (fetch and accept consignments, broadcast, count confirmations), then reports what changed.',
  params: NoParams,
  result: Type.Object({ refreshed: Type.Boolean() }),
  role: 'user',
  errors: ['BackendUnavailable', 'Locked'],
});

export const rgbListtransfers = declareMethod({
  name: 'rgb.listtransfers',
  summary: 'The transfers of an asset on the node (issuance, receives, sends) with their status; anyad’s last picture, marked stale, while the node is away.',
  params: Type.Object({ asset_id: AssetId }, { additionalProperties: false }),
  result: Type.Object({ stale: Stale, transfers: Type.Array(TransferT) }),
  role: 'readonly',
  errors: ['BackendUnavailable', 'Locked', 'NotFound'],
});

export const rgbFailtransfers = declareMethod({
  name: 'rgb.failtransfers',
  summary: 'Marks pending transfers failed on the node (one batch by index, or every eligible one), releasing what they held.',
  params: Type.Object(
    {
      batch_transfer_idx: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_147_483_647 })),
      no_asset_only: Type.Boolean({ default: false, description: 'Only receives that name no asset.' }),
    },
    { additionalProperties: false },
  ),
  result: Type.Object({ transfers_changed: Type.Boolean() }),
  role: 'admin',
  errors: ['BackendUnavailable', 'BackendRejected', 'Locked', 'NotFound'],
});

export const rgbCreateutxos = declareMethod({
  name: 'rgb.createutxos',
  summary: 'Has the node make UTXOs to hold RGB allocations (needed before issuing or receiving); fee rate capped by rgb.maxfeerate.',
  params: Type.Object(
    {
      num: Type.Optional(Type.Integer({ minimum: 1, maximum: 255 })),
      size: Type.Optional(Type.Integer({ minimum: 294, maximum: 100_000_000, description: 'Sats each.' })),
      up_to: Type.Boolean({ default: false, description: 'Only as many as needed to have num.' }),
      fee_rate: SendParams.properties.fee_rate,
    },
    { additionalProperties: false },
  ),
  result: Type.Object({ created: Type.Boolean() }),
  role: 'admin',
  errors: ['BackendUnavailable', 'BackendRejected', 'Locked', 'PolicyDenied'],
});

export const rgbLninvoice = declareMethod({
  name: 'rgb.lninvoice',
  summary: 'A Lightning invoice for an RGB asset amount (RGB channels of the node), recorded with its label.',
  params: LnInvoiceParams,
  result: LnInvoiceResult,
  role: 'user',
  errors: ['BackendUnavailable', 'BackendRejected', 'Locked'],
});

export const rgbEstimatefee = declareMethod({
  name: 'rgb.estimatefee',
  summary: 'The node’s fee-rate estimate (sat/vB) for confirmation within a number of blocks.',
  params: Type.Object({ blocks: Type.Integer({ minimum: 1, maximum: 1008, default: 6 }) }, { additionalProperties: false }),
  result: Type.Object({ fee_rate: Type.Number({ description: 'sat/vB' }), blocks: Type.Integer() }),
  role: 'readonly',
  errors: ['BackendUnavailable', 'BackendRejected', 'Locked'],
});

export const rgbHistory = declareMethod({
  name: 'rgb.history',
  summary: 'Issuances, invoices and sends made through anyad, newest first, with their labels (from anyad’s records; the node need not be up).',
  params: Type.Object(
    {
      limit: Type.Integer({ minimum: 1, maximum: 10_000, default: 1000 }),
      offset: Type.Integer({ minimum: 0, default: 0 }),
    },
    { additionalProperties: false },
  ),
  result: Type.Object({ total: Type.Integer(), items: Type.Array(OpT) }),
  role: 'readonly',
});

export const RGB_METHODS: readonly MethodDeclaration[] = [
  rgbGetinfo,
  rgbUnlock,
  rgbLock,
  rgbListassets,
  rgbAssetbalance,
  rgbIssueasset,
  rgbCreateinvoice,
  rgbDecodeinvoice,
  rgbSendasset,
  rgbRefresh,
  rgbListtransfers,
  rgbFailtransfers,
  rgbCreateutxos,
  rgbLninvoice,
  rgbEstimatefee,
  rgbHistory,
];
