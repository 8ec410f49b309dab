// The RGB Lightning Node test peer's API surface (see rgb-node.ts for what the peer proves): the request schemas of
// openapi.yaml (commit 8991e67) with the required-ness of the node's Rust request structs (src/routes.rs), compiled
// once; which routes are GETs or take no body; and the APIError variants with the HTTP status src/error.rs gives each.

import { Type, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';

// ---- request schemas (openapi.yaml components/schemas; required-ness from the Rust structs) ----
const Opt = <T extends TSchema>(t: T) => Type.Optional(Type.Union([t, Type.Null()]));
const U8 = Type.Integer({ minimum: 0, maximum: 255 });
const U64 = Type.Integer({ minimum: 0 });
const AssetSchemaT = Type.Union([Type.Literal('Nia'), Type.Literal('Uda'), Type.Literal('Cfa')]);
const AssignmentFungible = Type.Object({ type: Type.Literal('Fungible'), value: U64 });
const REQUESTS: Record<string, TSchema | undefined> = {
  '/unlock': Type.Object({
    password: Type.String(),
    bitcoind_rpc_username: Type.String(),
    bitcoind_rpc_password: Type.String(),
    bitcoind_rpc_host: Type.String(),
    bitcoind_rpc_port: Type.Integer({ minimum: 0, maximum: 65535 }),
    indexer_url: Opt(Type.String()),
    proxy_endpoint: Opt(Type.String()),
    announce_addresses: Type.Array(Type.String()),
    announce_alias: Opt(Type.String()),
  }),
  '/listassets': Type.Object({ filter_asset_schemas: Type.Array(AssetSchemaT) }),
  '/assetbalance': Type.Object({ asset_id: Type.String() }),
  '/issueassetnia': Type.Object({ amounts: Type.Array(U64), ticker: Type.String(), name: Type.String(), precision: U8 }),
  '/issueassetcfa': Type.Object({ amounts: Type.Array(U64), name: Type.String(), details: Opt(Type.String()), precision: U8, file_digest: Opt(Type.String()) }),
  '/issueassetuda': Type.Object({
    ticker: Type.String(),
    name: Type.String(),
    details: Opt(Type.String()),
    precision: U8,
    media_file_digest: Opt(Type.String()),
    attachments_file_digests: Type.Array(Type.String()),
  }),
  '/rgbinvoice': Type.Object({
    min_confirmations: U8,
    asset_id: Opt(Type.String()),
    duration_seconds: Opt(Type.Integer({ minimum: 0 })),
    witness: Type.Optional(Type.Boolean()),
  }),
  '/decodergbinvoice': Type.Object({ invoice: Type.String() }),
  '/sendasset': Type.Object({
    asset_id: Type.String(),
    assignment: AssignmentFungible,
    recipient_id: Type.String(),
    donation: Type.Boolean(),
    fee_rate: Type.Number(),
    min_confirmations: U8,
    transport_endpoints: Type.Array(Type.String()),
    skip_sync: Type.Boolean(),
  }),
  '/refreshtransfers': Type.Object({ skip_sync: Type.Boolean() }),
  '/listtransfers': Type.Object({ asset_id: Type.String() }),
  '/failtransfers': Type.Object({ batch_transfer_idx: Opt(Type.Integer()), no_asset_only: Type.Boolean(), skip_sync: Type.Boolean() }),
  '/createutxos': Type.Object({
    up_to: Type.Boolean(),
    num: Opt(U8),
    size: Opt(Type.Integer({ minimum: 0 })),
    fee_rate: Type.Number(),
    skip_sync: Type.Boolean(),
  }),
  '/estimatefee': Type.Object({ blocks: Type.Integer({ minimum: 0, maximum: 65535 }) }),
  '/lninvoice': Type.Object({ amt_msat: Opt(U64), expiry_sec: Type.Integer({ minimum: 0 }), asset_id: Opt(Type.String()), asset_amount: Opt(U64) }),
};
export const CHECKS = new Map<string, TypeCheck<TSchema>>(Object.entries(REQUESTS).map(([k, v]) => [k, TypeCompiler.Compile(v!)]));
export const GET_ROUTES = new Set(['/networkinfo', '/nodeinfo']);
export const NO_BODY_POSTS = new Set(['/lock']);

/** An APIError with the HTTP status src/error.rs maps it to. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly kind: string,
    message: string,
  ) {
    super(message);
  }
}
export const E = {
  locked: () => new ApiError(403, 'LockedNode', 'Node is locked (hint: call unlock)'),
  unlocked: () => new ApiError(403, 'UnlockedNode', 'Node is unlocked (hint: call lock)'),
  wrongPassword: () => new ApiError(401, 'WrongPassword', 'The provided password is incorrect'),
  unknownContract: () => new ApiError(403, 'UnknownContractId', 'Unknown RGB contract ID'),
  invalidAssetId: (id: string) => new ApiError(400, 'InvalidAssetID', `Invalid asset ID: ${id}`),
  noUtxos: () => new ApiError(403, 'NoAvailableUtxos', 'No uncolored UTXOs are available (hint: call createutxos)'),
  funds: (n: number) => new ApiError(403, 'InsufficientFunds', `Not enough funds, get an address and send ${n} sats there`),
  assets: () => new ApiError(403, 'InsufficientAssets', 'Not enough assets'),
  recipient: () => new ApiError(400, 'InvalidRecipientID', 'The provided recipient ID is neither a blinded UTXO or a script'),
  recipientNet: () => new ApiError(400, 'InvalidRecipientNetwork', "The provided recipient ID is for a different network than the wallet's one"),
  recipientUsed: () => new ApiError(403, 'RecipientIDAlreadyUsed', 'Recipient ID already used'),
  invoice: (why: string) => new ApiError(400, 'InvalidInvoice', `Invalid invoice: ${why}`),
  amount: (why: string) => new ApiError(400, 'InvalidAmount', `Invalid amount: ${why}`),
  feeRate: (why: string) => new ApiError(400, 'InvalidFeeRate', `Invalid fee rate: ${why}`),
  ticker: (why: string) => new ApiError(400, 'InvalidTicker', `Invalid ticker: ${why}`),
  batch: () => new ApiError(403, 'BatchTransferNotFound', 'Batch transfer not found'),
  cannotFail: () => new ApiError(403, 'CannotFailBatchTransfer', 'Batch transfer cannot be set to failed status'),
  allocations: () => new ApiError(403, 'AllocationsAlreadyAvailable', 'Allocations already available'),
};
