// The wallet room's methods, as data (Bitcoin Core's wallet RPCs as the anchor: getbalances, listunspent,
// listtransactions, getnewaddress, getrawchangeaddress, walletcreatefundedpsbt, send, lockunspent, listdescriptors,
// bumpfee, rescanblockchain).

import { Type } from '@sinclair/typebox';
import { declareMethod, NoParams, type MethodDeclaration } from '../core/methods.js';
import { WALLET_TX } from './topics.js';

const Txid = Type.String({ pattern: '^[0-9a-f]{64}$', description: 'A txid (64 lower-case hex characters).' });
const Sat = Type.Integer({ minimum: 0, maximum: 2_100_000_000_000_000 });
const AddressTypeT = Type.Union([Type.Literal('wpkh'), Type.Literal('tr')], { default: 'wpkh', description: 'wpkh: BIP84 P2WPKH; tr: BIP86 P2TR.' });
const Outputs = Type.Array(
  Type.Object(
    { address: Type.String({ minLength: 1, maxLength: 100 }), amount_sat: Type.Integer({ minimum: 1, maximum: 2_100_000_000_000_000 }) },
    { additionalProperties: false },
  ),
  { minItems: 1, maxItems: 1000, description: 'Who is paid: address and amount in satoshis.' },
);
const FundParams = {
  outputs: Outputs,
  fee_rate: Type.Optional(
    Type.Number({ minimum: 1, maximum: 100_000, description: "sat/vB; without it, the node's estimate for conf_target (or wallet.fallbackfee)." }),
  ),
  conf_target: Type.Integer({ minimum: 1, maximum: 1008, default: 6, description: 'Blocks, for the fee estimate.' }),
  inputs: Type.Optional(
    Type.Array(Type.Object({ txid: Txid, vout: Type.Integer({ minimum: 0, maximum: 100_000 }) }, { additionalProperties: false }), {
      minItems: 1,
      maxItems: 1000,
      description: 'Spend exactly these coins of the wallet (no others are added).',
    }),
  ),
  subtract_fee_from_outputs: Type.Array(Type.Integer({ minimum: 0, maximum: 999 }), {
    default: [],
    maxItems: 1000,
    uniqueItems: true,
    description: 'Indexes of outputs that pay the fee between them (equally), as Core.',
  }),
  replaceable: Type.Boolean({ default: true, description: 'Signal BIP125 replaceability (wallet.bumpfee can then raise the fee).' }),
};

const CoinT = Type.Object({
  txid: Type.String(),
  vout: Type.Integer(),
  address: Type.String(),
  amount_sat: Sat,
  confirmations: Type.Integer(),
  type: Type.String(),
  internal: Type.Boolean({ description: 'A change output.' }),
  coinbase: Type.Boolean(),
  spendable: Type.Boolean({ description: 'Mature, not promised to a holder, and of the seed (the HSM signs for it).' }),
  solvable: Type.Boolean({ description: 'The wallet knows its script and key origins, so it can fund a PSBT with it (true for every coin it follows).' }),
  watch_only: Type.Boolean({ description: 'Of an imported descriptor: signed elsewhere, never spent by wallet.send (wallet.fundpsbt watchonly).' }),
  reserved_by: Type.Union([Type.String(), Type.Null()]),
  path: Type.String({ description: 'The key path from the master key.' }),
});

export const walletGetbalance = declareMethod({
  name: 'wallet.getbalance',
  summary: 'The wallet balance: confirmed, unconfirmed, immature (coinbase) and reserved (promised to a holder), in satoshis.',
  description: "Of the seed's coins; the coins of imported watch-only descriptors are counted apart in watchonly_sat, never in the others.",
  params: NoParams,
  result: Type.Object({ confirmed_sat: Sat, unconfirmed_sat: Sat, immature_sat: Sat, reserved_sat: Sat, total_sat: Sat, watchonly_sat: Sat }),
  role: 'readonly',
  errors: ['BackendUnavailable'],
});

export const walletListunspent = declareMethod({
  name: 'wallet.listunspent',
  summary: "The wallet's unspent coins, most confirmations first.",
  params: Type.Object(
    {
      minconf: Type.Integer({ minimum: 0, maximum: 9_999_999, default: 0 }),
      maxconf: Type.Integer({ minimum: 0, maximum: 9_999_999, default: 9_999_999 }),
      limit: Type.Integer({ minimum: 1, maximum: 100_000, default: 10_000 }),
    },
    { additionalProperties: false },
  ),
  result: Type.Array(CoinT),
  role: 'readonly',
});

export const walletListtransactions = declareMethod({
  name: 'wallet.listtransactions',
  summary: "The wallet's transactions, newest first: what each moved for the wallet, its fee when known, its state.",
  params: Type.Object(
    { count: Type.Integer({ minimum: 1, maximum: 10_000, default: 100 }), skip: Type.Integer({ minimum: 0, maximum: 10_000_000, default: 0 }) },
    { additionalProperties: false },
  ),
  result: Type.Object({
    total: Type.Integer(),
    items: Type.Array(
      Type.Object({
        txid: Type.String(),
        direction: Type.Union([Type.Literal('received'), Type.Literal('sent'), Type.Literal('self')]),
        amount_sat: Type.Integer({ description: 'Received minus spent: negative when sending.' }),
        fee_sat: Type.Union([Type.Integer(), Type.Null()]),
        status: Type.String(),
        confirmations: Type.Integer(),
        height: Type.Union([Type.Integer(), Type.Null()]),
        time: Type.Integer(),
        coinbase: Type.Boolean(),
        involves_watchonly: Type.Boolean({
          description: 'It pays or spends a coin of an imported watch-only descriptor (amount_sat then counts those coins too).',
        }),
        label: Type.Union([Type.String(), Type.Null()]),
        replaced_by: Type.Union([Type.String(), Type.Null()], { description: 'The replacement of a replaced transaction.' }),
      }),
    ),
  }),
  role: 'readonly',
});

const AddressResult = Type.Object({ address: Type.String(), type: Type.String(), path: Type.String(), index: Type.Integer() });

export const walletGetnewaddress = declareMethod({
  name: 'wallet.getnewaddress',
  summary: 'A new receive address of the wallet (never handed out before).',
  params: Type.Object({ type: AddressTypeT }, { additionalProperties: false }),
  result: AddressResult,
  role: 'user',
  errors: ['BackendUnavailable'],
});

export const walletGetchangeaddress = declareMethod({
  name: 'wallet.getchangeaddress',
  summary: 'A new change address of the wallet (its internal chain).',
  params: Type.Object({ type: AddressTypeT }, { additionalProperties: false }),
  result: AddressResult,
  role: 'user',
  errors: ['BackendUnavailable'],
});

export const walletFundpsbt = declareMethod({
  name: 'wallet.fundpsbt',
  summary: "Outputs to a funded PSBT (Core's walletcreatefundedpsbt): coins chosen, change to the wallet, the coins promised to the PSBT until reserve_sec.",
  description:
    "The PSBT carries each input's witness UTXO and key origin; sign it with hsm.signpsbt (or any signer that holds the seed) and finish with chain.finalizepsbt and chain.broadcast. Errors name the amounts: insufficient funds, dust, a fee over wallet.maxtxfee (PolicyDenied, data.rule maxtxfee).",
  params: Type.Object(
    {
      ...FundParams,
      reserve_sec: Type.Optional(
        Type.Integer({ minimum: 1, maximum: 31_536_000, description: 'How long the coins stay promised (default wallet.reservetime).' }),
      ),
      watchonly: Type.Boolean({
        default: false,
        description:
          "Fund from the watch-only coins only (wallet.importdescriptors): each input carries its witness UTXO, previous transaction, witness script (wsh) and every key's origin, for the hardware wallet or cosigners to sign; change goes to an imported internal descriptor (else to the seed's change chain).",
      }),
    },
    { additionalProperties: false },
  ),
  result: Type.Object({
    psbt: Type.String(),
    fee_sat: Sat,
    change_pos: Type.Integer({ description: 'The change output, or -1.' }),
    holder: Type.String({ description: 'The promise the coins are under (give it to wallet.release to free them).' }),
    reserved_until: Type.String({ description: 'ISO time.' }),
  }),
  role: 'user',
  errors: ['PolicyDenied', 'Conflict', 'BackendUnavailable'],
});

export const walletSend = declareMethod({
  name: 'wallet.send',
  summary: 'Pay outputs from the wallet: fund, sign through the HSM under its signing policy, broadcast.',
  params: Type.Object(FundParams, { additionalProperties: false }),
  result: Type.Object({ txid: Type.String(), fee_sat: Sat, hex: Type.String() }),
  role: 'admin',
  errors: ['PolicyDenied', 'Locked', 'Conflict', 'BackendUnavailable', 'BackendRejected'],
});

export const walletRelease = declareMethod({
  name: 'wallet.release',
  summary: 'Give back promised coins: those named, those of a holder, or (admin) all.',
  params: Type.Object(
    {
      outpoints: Type.Optional(Type.Array(Type.String({ pattern: '^[0-9a-f]{64}:[0-9]{1,6}$' }), { minItems: 1, maxItems: 10_000 })),
      holder: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    },
    { additionalProperties: false },
  ),
  result: Type.Object({ released: Type.Array(Type.String()) }),
  role: 'user',
});

export const walletListreservations = declareMethod({
  name: 'wallet.listreservations',
  summary: 'The coins promised now: to whom and until when.',
  params: NoParams,
  result: Type.Array(Type.Object({ outpoint: Type.String(), holder: Type.String(), expires_at: Type.String(), created_at: Type.String() })),
  role: 'readonly',
});

export const walletListdescriptors = declareMethod({
  name: 'wallet.listdescriptors',
  summary: "The wallet's public descriptors with key origin and checksum (import them watch-only into Bitcoin Core or Sparrow).",
  params: NoParams,
  result: Type.Array(
    Type.Object({
      desc: Type.String(),
      type: Type.String(),
      internal: Type.Boolean(),
      next_index: Type.Integer(),
      range_end: Type.Integer({ description: 'The last index derived into the script book (the gap limit past the last used).' }),
      watch_only: Type.Boolean({ description: 'Imported by wallet.importdescriptors.' }),
      label: Type.Union([Type.String(), Type.Null()]),
    }),
  ),
  role: 'readonly',
});

export const walletImportdescriptors = declareMethod({
  name: 'wallet.importdescriptors',
  summary:
    "Follow watch-only descriptors (Core's importdescriptors): a hardware wallet's or a multisig's coins, counted apart and funded into PSBTs signed elsewhere.",
  description:
    'Each request: desc with key origins (`wpkh([fp/84h/1h/0h]tpub…/0/*)#checksum`, `wsh(sortedmulti(2,[fp1/48h/1h/0h/2h]tpub…/0/*,[fp2/…]tpub…/0/*))`, `addr(…)`), range (end, or [begin, end]; default [0, 999]; at most 10,000 addresses; only for a ranged descriptor), internal (a change chain: wallet.fundpsbt watchonly sends change there), label. The checksum is checked when given; extended keys must be of this network (tpub off mainnet); private keys are refused. One bad request refuses the call, naming it and what is wrong. The outputs join the script book up to the gap limit past the last used; coins paid to them before the import are found by wallet.rescan. Kept across restarts; wallet.listdescriptors lists them. Importing a descriptor again updates it.',
  params: Type.Object(
    {
      requests: Type.Array(
        Type.Object(
          {
            desc: Type.String({ minLength: 1, maxLength: 10_000 }),
            range: Type.Optional(
              Type.Union([
                Type.Integer({ minimum: 0, maximum: 2_147_483_647 }),
                Type.Tuple([Type.Integer({ minimum: 0, maximum: 2_147_483_647 }), Type.Integer({ minimum: 0, maximum: 2_147_483_647 })]),
              ]),
            ),
            internal: Type.Optional(Type.Boolean()),
            label: Type.Optional(Type.String({ maxLength: 200 })),
          },
          { additionalProperties: false },
        ),
        { minItems: 1, maxItems: 100 },
      ),
    },
    { additionalProperties: false },
  ),
  result: Type.Array(
    Type.Object({
      success: Type.Boolean(),
      id: Type.String({ description: "The descriptor's checksum, which names it." }),
      desc: Type.String({ description: 'The descriptor as kept, with its checksum.' }),
      range: Type.Tuple([Type.Integer(), Type.Integer()]),
      type: Type.String(),
    }),
  ),
  role: 'admin',
});

export const walletBumpfee = declareMethod({
  name: 'wallet.bumpfee',
  summary: "Replace an unconfirmed transaction of the wallet with one paying a higher fee (BIP125, Core's bumpfee).",
  description:
    "The original must signal BIP125 replaceability, spend only the wallet's coins, be unconfirmed and have no unconfirmed child in the wallet. The replacement spends the same inputs and pays the same recipients the same amounts; it pays fee_rate (default: the node's estimate, at least the original's rate + 1 sat/vB) and an absolute fee of at least the original's plus 1 sat/vB (Core's incremental relay fee) times its own size, both taken from the change output; when the change cannot pay, a wallet coin is added (and a change output dropped when what is left would be dust). Signed through the HSM under its policy, broadcast; the original is then marked replaced (wallet.tx status replaced, replaced_by). Errors name the fee figures.",
  params: Type.Object(
    {
      txid: Txid,
      fee_rate: Type.Optional(Type.Number({ minimum: 1, maximum: 100_000, description: 'sat/vB; must be above the original rate.' })),
    },
    { additionalProperties: false },
  ),
  result: Type.Object({
    txid: Type.String({ description: 'The replacement.' }),
    original_txid: Type.String(),
    original_fee_sat: Sat,
    original_fee_rate: Type.Number({ description: 'sat/vB' }),
    fee_sat: Sat,
    fee_rate: Type.Number({ description: 'sat/vB, of the signed replacement.' }),
  }),
  role: 'admin',
  errors: ['PolicyDenied', 'Locked', 'Conflict', 'BackendUnavailable', 'BackendRejected'],
});

export const walletCpfp = declareMethod({
  name: 'wallet.cpfp',
  summary: 'Raise the fee of an unconfirmed payment to the wallet by a child (child pays for parent) spending our outputs of it.',
  description:
    "Miners choose a transaction with its unconfirmed parent by the rate of the two together (the package). The child spends every free output of ours in the parent to a new change address, with a fee such that (parent fee + child fee) / (parent vsize + child vsize) reaches fee_rate; the parent's fee and size are the node's (getmempoolentry; ancestors of the parent are not counted). Refused when the parent already pays fee_rate, when it is confirmed or not in the mempool, or when our outputs cannot pay the child's fee above dust. Signed through the HSM, broadcast.",
  params: Type.Object(
    { txid: Txid, fee_rate: Type.Number({ minimum: 1, maximum: 100_000, description: 'The package fee rate wanted, sat/vB.' }) },
    { additionalProperties: false },
  ),
  result: Type.Object({
    txid: Type.String({ description: 'The child.' }),
    parent_txid: Type.String(),
    parent_fee_sat: Sat,
    parent_vsize: Type.Integer(),
    fee_sat: Sat,
    package_fee_rate: Type.Number({ description: 'sat/vB of parent and child together.' }),
  }),
  role: 'admin',
  errors: ['PolicyDenied', 'Locked', 'Conflict', 'BackendUnavailable', 'BackendRejected'],
});

export const walletRescan = declareMethod({
  name: 'wallet.rescan',
  summary:
    "Read the node's blocks from a height (or a wallet birthday) to the tip the wallet follows and add what they hold for the wallet (Core's rescanblockchain).",
  description:
    'After hsm.restorekeystore into a fresh datadir (or a keystore unlocked after blocks went by) this finds every coin of the seed in the chain; the gap limit moves ahead as used addresses are met. Applying a block twice changes nothing, so rescanning blocks already followed is harmless. Runs under the wallet lock (sends wait); progress as wallet.rescan events. Unconfirmed payments are found as the node relays them, not by the rescan.',
  params: Type.Object(
    {
      from_height: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000_000, description: 'The first block to read (default 0, or the birthday).' })),
      birthday: Type.Optional(
        Type.Integer({ minimum: 1_231_006_505, maximum: 10_000_000_000, description: 'Unix time the seed was made: the rescan starts 2 hours before it.' }),
      ),
    },
    { additionalProperties: false },
  ),
  result: Type.Object({ from_height: Type.Integer(), to_height: Type.Integer(), blocks: Type.Integer(), transactions_found: Type.Integer() }),
  role: 'admin',
  errors: ['Locked', 'BackendUnavailable'],
});

export const walletListevents = declareMethod({
  name: 'wallet.listevents',
  summary: 'The wallet.tx events after a seq, oldest first, from the event log kept across restarts (catch up after a disconnection).',
  description:
    "The pattern: subscribe to wallet.tx, then call wallet.listevents since=<the last seq seen> (0 the first time), and again with the last seq returned while limit events come back; drop any event (live or listed) whose seq was already seen. Every event is in the log exactly when the step that made it is durable, so none is lost to a kill or a disconnection. since is exclusive (NBXplorer's lastEventId, Core Lightning's lastpay_index); without it, the listing starts at the oldest kept. A since beyond last_seq gives no events. The log keeps the newest wallet.eventlog events: a since older than first_seq - 1 is refused (Conflict, data.first_seq), since events after it are gone; catch up with wallet.listtransactions then.",
  params: Type.Object(
    {
      since: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'The last seq seen: events with a higher seq.' })),
      limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
    },
    { additionalProperties: false },
  ),
  result: Type.Object({
    events: Type.Array(WALLET_TX.data, { description: 'As the wallet.tx topic publishes them, by seq.' }),
    first_seq: Type.Integer({ minimum: 1, description: 'The oldest event kept (last_seq + 1 when none is).' }),
    last_seq: Type.Integer({ minimum: 0, description: 'The newest event (0 before the first).' }),
  }),
  role: 'readonly',
  errors: ['Conflict'],
});

export const WALLET_METHODS: readonly MethodDeclaration[] = [
  walletGetbalance,
  walletListunspent,
  walletListtransactions,
  walletGetnewaddress,
  walletGetchangeaddress,
  walletFundpsbt,
  walletSend,
  walletRelease,
  walletListreservations,
  walletListdescriptors,
  walletImportdescriptors,
  walletBumpfee,
  walletCpfp,
  walletRescan,
  walletListevents,
];
