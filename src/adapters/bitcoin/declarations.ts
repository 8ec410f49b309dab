// The declarations of methods (name, summary, params and result schemas, role, errors): data that the docs and
// the daemon read without the room's code; the handlers are bound in the room's methods module.

import { declareMethod, NoParams, type MethodDeclaration } from '../../core/methods.js';
import { Type } from '@sinclair/typebox';

export const Hash = Type.String({ pattern: '^[0-9a-fA-F]{64}$', description: 'A block hash or txid (64 hex characters).' });

/** A watch as chain.watch and chain.listwatches answer it. */
export const WatchT = Type.Object({
  id: Type.String(),
  kind: Type.String(),
  value: Type.String(),
  label: Type.String(),
  created: Type.String(),
  owners: Type.Optional(Type.Array(Type.String(), { description: 'The credentials that asked for it.' })),
});

/** Bitcoin Core's shapes (rpc/blockchain.cpp blockheaderToJSON, core_write.cpp TxToUniv); extra node fields pass. */
export const HeaderT = Type.Object(
  {
    hash: Type.String(),
    confirmations: Type.Integer(),
    height: Type.Integer(),
    version: Type.Integer(),
    merkleroot: Type.String(),
    time: Type.Integer(),
    bits: Type.String(),
    difficulty: Type.Number(),
    previousblockhash: Type.Optional(Type.String()),
    nextblockhash: Type.Optional(Type.String()),
  },
  { additionalProperties: true },
);

export const TxT = Type.Object(
  {
    txid: Type.String(),
    vin: Type.Array(
      Type.Object(
        {
          txid: Type.Optional(Type.String()),
          vout: Type.Optional(Type.Integer()),
          coinbase: Type.Optional(Type.String()),
          sequence: Type.Integer(),
        },
        { additionalProperties: true },
      ),
    ),
    vout: Type.Array(
      Type.Object(
        {
          value: Type.Number(),
          n: Type.Integer(),
          scriptPubKey: Type.Object({ hex: Type.String(), address: Type.Optional(Type.String()) }, { additionalProperties: true }),
        },
        { additionalProperties: true },
      ),
    ),
    locktime: Type.Integer(),
    blockhash: Type.Optional(Type.String()),
    confirmations: Type.Optional(Type.Integer()),
  },
  { additionalProperties: true },
);

export const BlockT = Type.Union([
  Type.String({ description: 'verbosity 0: the serialized block, hex' }),
  Type.Intersect([
    HeaderT,
    Type.Object({ tx: Type.Union([Type.Array(Type.String()), Type.Array(TxT)], { description: 'txids (verbosity 1) or decoded transactions (2)' }) }),
  ]),
]);

export const MAX_TX_HEX = 2 * 4_000_000;

export const chainGetinfo = declareMethod({
  name: 'chain.getinfo',
  summary: 'The connection to bitcoind and how far anyad has followed its chain.',
  params: NoParams,
  result: Type.Object({
    state: Type.String(),
    detail: Type.String(),
    network: Type.String(),
    backend: Type.Union([Type.Object({ kind: Type.String(), version: Type.String(), subversion: Type.String() }), Type.Null()]),
    mode: Type.Union([Type.Literal('zmq'), Type.Literal('polling')], {
      description: 'zmq while ZMQ notifications drive the watcher; polling when not configured or silent.',
    }),
    blocks: Type.Union([Type.Integer(), Type.Null()]),
    headers: Type.Union([Type.Integer(), Type.Null()]),
    verification_progress: Type.Union([Type.Number(), Type.Null()]),
    processed_height: Type.Union([Type.Integer(), Type.Null()]),
    processed_hash: Type.Union([Type.String(), Type.Null()]),
    catching_up: Type.Boolean(),
    watches: Type.Integer(),
  }),
  role: 'readonly',
});

export const chainGetblock = declareMethod({
  name: 'chain.getblock',
  summary: 'A block by hash or height: hex (verbosity 0), with txids (1) or with decoded transactions (2).',
  params: Type.Object(
    {
      block: Type.Union([Hash, Type.Integer({ minimum: 0 })], { description: 'Block hash, or height in the main chain.' }),
      verbosity: Type.Union([Type.Literal(0), Type.Literal(1), Type.Literal(2)], { default: 1, description: 'Detail level.' }),
    },
    { additionalProperties: false },
  ),
  result: BlockT,
  errors: ['NotFound', 'BackendUnavailable'],
  role: 'readonly',
});

export const chainGetblockheader = declareMethod({
  name: 'chain.getblockheader',
  summary: 'A block header by hash, as bitcoind reports it.',
  params: Type.Object({ hash: Hash }, { additionalProperties: false }),
  result: HeaderT,
  role: 'readonly',
});

export const chainGettx = declareMethod({
  name: 'chain.gettx',
  summary: 'A transaction decoded by bitcoind (needs its txindex for confirmed ones), with its watch status if anyad watches it.',
  params: Type.Object({ txid: Hash }, { additionalProperties: false }),
  result: Type.Intersect([
    TxT,
    Type.Object({ anya_watch: Type.Optional(Type.Object({ status: Type.String(), watches: Type.Array(Type.String()) }, { additionalProperties: true })) }),
  ]),
  errors: ['NotFound', 'BackendUnavailable'],
  role: 'readonly',
});

export const chainBroadcast = declareMethod({
  name: 'chain.broadcast',
  summary: 'Check a raw transaction locally, then hand it to bitcoind; answers the txid.',
  description:
    "The hex is decoded with bitcoinjs-lib and refused before it reaches bitcoind when it is not a transaction, has no inputs or outputs, spends an outpoint twice, or moves an impossible amount. bitcoind's own rejection comes back as BackendRejected with its reason.",
  params: Type.Object(
    { hex: Type.String({ minLength: 20, maxLength: MAX_TX_HEX, pattern: '^([0-9a-fA-F]{2})+$', description: 'The signed transaction, hex.' }) },
    { additionalProperties: false },
  ),
  result: Type.Object({ txid: Type.String() }),
  errors: ['BackendRejected', 'BackendUnavailable'],
  role: 'user',
});

export const MAX_MONEY_SAT = 21_000_000 * 100_000_000;
const Psbt = Type.String({ minLength: 10, maxLength: 4_000_000, pattern: '^[A-Za-z0-9+/]+={0,2}$', description: 'A PSBT, base64.' });
const Sat = Type.Integer({ minimum: 0, maximum: MAX_MONEY_SAT });

export const chainCreatepsbt = declareMethod({
  name: 'chain.createpsbt',
  summary: "A PSBT spending the given outputs to the given addresses, each input filled from bitcoind's copy of its transaction.",
  description:
    "Bitcoin Core's createpsbt and utxoupdatepsbt in one: every input gets its previous transaction (non_witness_utxo, which hsm.signpsbt needs to verify amounts) and its witness_utxo. Each input must be unspent in bitcoind's view (mempool included) and, for a coinbase output, mature (100 confirmations); outputs must be addresses of anyad's network and add up to no more than the inputs — the difference is the fee. Confirmed inputs need bitcoind's txindex (or an embedded chain). No change output is added: list one.",
  params: Type.Object(
    {
      inputs: Type.Array(
        Type.Object(
          {
            txid: Hash,
            vout: Type.Integer({ minimum: 0, maximum: 100_000 }),
            sequence: Type.Optional(
              Type.Integer({ minimum: 0, maximum: 0xffffffff, description: 'Default: 0xfffffffd (replaceable, BIP125) or 0xffffffff with replaceable=false.' }),
            ),
          },
          { additionalProperties: false },
        ),
        { minItems: 1, maxItems: 500 },
      ),
      outputs: Type.Array(
        Type.Object(
          { address: Type.String({ minLength: 14, maxLength: 100 }), amount_sat: Type.Integer({ minimum: 1, maximum: MAX_MONEY_SAT }) },
          { additionalProperties: false },
        ),
        { minItems: 1, maxItems: 500 },
      ),
      locktime: Type.Integer({ minimum: 0, maximum: 0xffffffff, default: 0 }),
      replaceable: Type.Boolean({ default: true, description: 'Signal BIP125 replaceability on inputs without an explicit sequence.' }),
    },
    { additionalProperties: false },
  ),
  result: Type.Object({ psbt: Psbt, inputs_sat: Sat, outputs_sat: Sat, fee_sat: Sat }),
  errors: ['NotFound', 'BackendUnavailable'],
  role: 'user',
});

export const chainFinalizepsbt = declareMethod({
  name: 'chain.finalizepsbt',
  summary: "Finalize a signed PSBT's inputs and extract the transaction, as Bitcoin Core's finalizepsbt.",
  description:
    'complete is true when every input could be finalized; hex and txid are then the network transaction to hand to chain.broadcast. An input that is not fully signed leaves complete false, and the PSBT is answered with what could be finalized.',
  params: Type.Object({ psbt: Psbt }, { additionalProperties: false }),
  result: Type.Object({
    complete: Type.Boolean(),
    psbt: Psbt,
    hex: Type.Optional(Type.String({ description: 'The signed transaction (when complete).' })),
    txid: Type.Optional(Type.String()),
    incomplete_inputs: Type.Array(Type.Integer(), { description: 'Indexes of the inputs that could not be finalized.' }),
  }),
  role: 'user',
});

export const chainGenerate = declareMethod({
  name: 'chain.generate',
  summary: "Regtest only: mines blocks to an address (the node's generatetoaddress) and answers their hashes.",
  params: Type.Object(
    {
      nblocks: Type.Integer({ minimum: 1, maximum: 1000, default: 1, description: 'How many blocks.' }),
      address: Type.String({ minLength: 14, maxLength: 100, description: 'A regtest address (bcrt1…) the coinbase pays.' }),
    },
    { additionalProperties: false },
  ),
  result: Type.Object({ address: Type.String(), blocks: Type.Array(Type.String(), { description: 'Block hashes, oldest first.' }) }),
  errors: ['Unsupported', 'BackendUnavailable'],
  role: 'admin',
});

export const chainEstimatefee = declareMethod({
  name: 'chain.estimatefee',
  summary: "bitcoind's estimatesmartfee for a set of confirmation targets, in sat/vB (null where it has no estimate).",
  params: Type.Object(
    {
      targets: Type.Array(Type.Integer({ minimum: 1, maximum: 1008 }), {
        minItems: 1,
        maxItems: 16,
        default: [2, 6, 12, 144],
        description: 'Confirmation targets in blocks.',
      }),
    },
    { additionalProperties: false },
  ),
  result: Type.Object({
    source: Type.Literal('estimatesmartfee'),
    estimates: Type.Array(
      Type.Object({
        target: Type.Integer(),
        sat_per_vb: Type.Union([Type.Number(), Type.Null()]),
        blocks: Type.Union([Type.Integer(), Type.Null()]),
        errors: Type.Array(Type.String()),
      }),
    ),
  }),
  role: 'readonly',
});

export const chainMempoolinfo = declareMethod({
  name: 'chain.mempoolinfo',
  summary: "bitcoind's mempool: transaction count, size, memory use and minimum fee rate in sat/vB.",
  params: NoParams,
  result: Type.Object({ size: Type.Integer(), bytes: Type.Integer(), usage: Type.Integer(), min_fee_sat_per_vb: Type.Union([Type.Number(), Type.Null()]) }),
  role: 'readonly',
});

export const chainWatch = declareMethod({
  name: 'chain.watch',
  summary: 'Watch an address, an output script or an outpoint; matching transactions come as chain.tx events.',
  params: Type.Object(
    {
      address: Type.Optional(Type.String({ maxLength: 100, description: "An address of anyad's network." })),
      script: Type.Optional(Type.String({ maxLength: 20000, description: 'An output script, hex.' })),
      outpoint: Type.Optional(Type.String({ maxLength: 80, description: 'txid:vout; its spend is reported.' })),
      label: Type.Optional(Type.String({ maxLength: 200, description: 'Free text for the app.' })),
    },
    { additionalProperties: false },
  ),
  result: WatchT,
  errors: ['Busy'],
  role: 'user',
});

export const chainUnwatch = declareMethod({
  name: 'chain.unwatch',
  summary: 'Stop watching (by the id chain.watch returned): only the credential that made the watch, or an admin.',
  params: Type.Object({ id: Type.String({ maxLength: 64 }) }, { additionalProperties: false }),
  result: Type.Boolean(),
  errors: ['NotFound', 'Forbidden'],
  role: 'user',
});

export const chainListwatches = declareMethod({
  name: 'chain.listwatches',
  summary: 'What is watched, oldest first, a page at a time.',
  params: Type.Object(
    {
      limit: Type.Integer({ minimum: 1, maximum: 10_000, default: 1000, description: 'Most watches in the answer.' }),
      offset: Type.Integer({ minimum: 0, default: 0, description: 'Watches to skip.' }),
    },
    { additionalProperties: false },
  ),
  result: Type.Array(WatchT),
  role: 'readonly',
});

export const CHAIN_METHODS: readonly MethodDeclaration[] = [
  chainGetinfo,
  chainGetblock,
  chainGetblockheader,
  chainGettx,
  chainBroadcast,
  chainCreatepsbt,
  chainFinalizepsbt,
  chainGenerate,
  chainEstimatefee,
  chainMempoolinfo,
  chainWatch,
  chainUnwatch,
  chainListwatches,
];
