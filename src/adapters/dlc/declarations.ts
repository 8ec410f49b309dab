// The declarations of the dlc.* methods (name, summary, params and result schemas, role, errors): data that the docs
// and the daemon read without the room's code; the handlers are bound in methods.ts.

import { Type } from '@sinclair/typebox';
import { declareMethod, NoParams, type MethodDeclaration } from '../../core/methods.js';

const Hex = (what: string, max: number) => Type.String({ minLength: 2, maxLength: max, pattern: '^([0-9a-fA-F]{2})+$', description: what });
const Id = Type.String({ pattern: '^[0-9a-f]{64}$', description: 'The temporary contract id dlc.offer answered (dlc.list shows them).' });
const Sat = Type.Integer({ minimum: 0, maximum: 21_000_000 * 100_000_000 });
const Utxos = Type.Array(
  Type.Object({ txid: Type.String({ pattern: '^[0-9a-fA-F]{64}$' }), vout: Type.Integer({ minimum: 0, maximum: 100_000 }) }, { additionalProperties: false }),
  {
    minItems: 1,
    maxItems: 50,
    description:
      "This party's funding inputs: unspent P2WPKH outputs of keystore keys or of the wallet (the HSM signs them through hsm.signpsbt's policy). When omitted, the wallet room chooses P2WPKH coins and promises them to the contract (holder dlc:<id>, see wallet.listreservations) until it is funded or cancelled; the contract's payout and change then go to wallet addresses.",
  },
);
/** Hex characters of one message: under rpcmaxmessagesize's default (1 MB), about 2,700 CETs of adaptor signatures. */
const MAX_MSG = 900_000;

export const ContractT = Type.Object({
  id: Type.String(),
  role: Type.Union([Type.Literal('offerer'), Type.Literal('accepter')]),
  state: Type.String({ description: 'offered, accepted, signed, broadcast, confirmed, closing, closed, refunding, refunded or cancelled.' }),
  contract_id: Type.Union([Type.String(), Type.Null()]),
  funding_txid: Type.Union([Type.String(), Type.Null()]),
  closing_txid: Type.Union([Type.String(), Type.Null()]),
  outcome: Type.Union([Type.String(), Type.Null()]),
  keys: Type.Object(
    { funding: Type.String(), payout: Type.String(), change: Type.String() },
    {
      description:
        "The keystore keys (hsm.listkeys ids); payout and change are 'wallet' for a contract the wallet funds (its payout and change go to wallet addresses).",
    },
  ),
  created: Type.String(),
  updated: Type.String(),
});

const OutcomeT = Type.Union([
  Type.Object({ kind: Type.Literal('enum'), outcome: Type.String() }),
  Type.Object({ kind: Type.Literal('digits'), digits: Type.Array(Type.Integer()), value: Type.Number(), unit: Type.String(), precision: Type.Integer() }),
]);

const AnnouncementT = Type.Object({
  signature: Type.String(),
  oracle_public_key: Type.String(),
  signing: Type.String({ description: 'tagged (Oracle.md) or sha256 (the dlcspecs vectors and rust-dlc): the hash the oracle signed.' }),
  event: Type.Object({
    nonces: Type.Array(Type.String()),
    maturity_epoch: Type.Integer(),
    event_id: Type.String(),
    descriptor: Type.Union([
      Type.Object({ kind: Type.Literal('enum'), outcomes: Type.Array(Type.String()) }),
      Type.Object({
        kind: Type.Literal('digits'),
        base: Type.Integer(),
        signed: Type.Boolean(),
        unit: Type.String(),
        precision: Type.Integer(),
        nb_digits: Type.Integer(),
      }),
    ]),
  }),
});

export const dlcVerifyannouncement = declareMethod({
  name: 'dlc.verifyannouncement',
  summary: "Decode an oracle_announcement (hex TLV) and check the oracle's signature over its event; answers the event.",
  params: Type.Object({ announcement: Hex('oracle_announcement, hex.', 200_000) }, { additionalProperties: false }),
  result: AnnouncementT,
  role: 'readonly',
});

export const dlcVerifyattestation = declareMethod({
  name: 'dlc.verifyattestation',
  summary:
    'Check an oracle_attestation against its announcement (same oracle and event, the announced nonces, valid signatures, outcomes the event allows); answers the outcome.',
  params: Type.Object(
    { announcement: Hex('oracle_announcement, hex.', 200_000), attestation: Hex('oracle_attestation, hex.', 200_000) },
    { additionalProperties: false },
  ),
  result: OutcomeT,
  role: 'readonly',
});

export const dlcFetchannouncement = declareMethod({
  name: 'dlc.fetchannouncement',
  summary: "An event's announcement from the configured oracles (dlc.oracle), verified; hex to give dlc.offer.",
  params: Type.Object(
    { event_id: Type.String({ minLength: 7, maxLength: 100, description: 'The P2PD event id, <asset><unix seconds> (e.g. btcusd1653865200).' }) },
    { additionalProperties: false },
  ),
  result: Type.Object({ announcement: Type.String(), oracle: Type.String() }),
  errors: ['NotFound', 'Unsupported'],
  role: 'readonly',
});

export const dlcOffer = declareMethod({
  name: 'dlc.offer',
  summary: 'Offer a contract on an oracle event (enumerated outcomes, or a numeric payout curve); answers offer_dlc (hex) for the counterparty.',
  description:
    'Funding, payout and change keys are made in the keystore. cet_locktime defaults to the event maturity, refund_locktime to a week later. The collateral is signed for only at dlc.sign, through the signing policy.',
  params: Type.Object(
    {
      announcement: Type.Optional(Hex('The oracle_announcement, hex (one oracle).', 200_000)),
      announcements: Type.Optional(
        Type.Array(Hex('An oracle_announcement, hex.', 200_000), {
          minItems: 2,
          maxItems: 20,
          description: 'Several oracles instead of announcement: their announcements of the same enumerated outcomes.',
        }),
      ),
      threshold: Type.Optional(
        Type.Integer({ minimum: 1, maximum: 20, description: 'With announcements: how many oracles must attest an outcome (default: all of them).' }),
      ),
      payouts: Type.Optional(
        Type.Array(Type.Object({ outcome: Type.String({ maxLength: 1000 }), offer_payout_sat: Sat }, { additionalProperties: false }), {
          minItems: 2,
          maxItems: 1000,
          description: 'Enumerated events: what the offerer gets in each outcome (the accepter gets the rest of total_collateral_sat); every outcome once.',
        }),
      ),
      payout_curve: Type.Optional(
        Type.Array(Type.Object({ outcome: Type.Integer({ minimum: 0 }), offer_payout_sat: Sat }, { additionalProperties: false }), {
          minItems: 2,
          maxItems: 1000,
          description:
            "Digit-decomposition events: the offerer's payout at points of the outcome axis, from 0 to the largest attestable value (base^digits - 1), joined by straight lines; one CET per digit prefix of each run of equal payouts.",
        }),
      ),
      rounding_mod: Type.Optional(
        Type.Integer({ minimum: 1, maximum: 100_000_000, description: 'Numeric payouts are rounded to a multiple of this (fewer CETs); default 1.' }),
      ),
      offer_collateral_sat: Sat,
      total_collateral_sat: Sat,
      fee_rate_sat_vb: Type.Integer({ minimum: 1, maximum: 10_000 }),
      utxos: Type.Optional(Utxos),
      cet_locktime: Type.Optional(Type.Integer({ minimum: 0, maximum: 0xffffffff })),
      refund_locktime: Type.Optional(Type.Integer({ minimum: 0, maximum: 0xffffffff })),
      peer: Type.Optional(
        Type.String({
          pattern: '^0[23][0-9a-f]{64}$',
          description:
            "The counterparty's node key (peer.connect): the offer is queued to it over the peer network with the record (sent once connected), its anyad raises dlc.offered, and the accept, sign and funding follow by themselves. Unsupported when the peer network is off (p2p.enable).",
        }),
      ),
    },
    { additionalProperties: false },
  ),
  result: Type.Object({ id: Type.String(), offer: Type.String({ description: 'offer_dlc, hex.' }) }),
  errors: ['NotFound', 'Unsupported', 'Locked', 'BackendUnavailable', 'Busy'],
  role: 'admin',
});

export const dlcDecodeoffer = declareMethod({
  name: 'dlc.decodeoffer',
  summary:
    "An offer's terms in plain JSON, for an app to show its user before dlc.accept: collaterals, fee rate, locktimes, oracles and event, payouts, the counterparty's keys, scripts and inputs; refusal says what dlc.accept would refuse in its terms.",
  description:
    'Read under the same limits as dlc.accept (dlc.maxoutcomes, dlc.maxcets, dlc.maxpayoutpoints, dlc.maxoracles, dlc.maxoraclecombinations: PolicyDenied naming the limit). Numeric payouts come as ranges of the outcome axis. The chain checks of the funding inputs are made by dlc.accept only.',
  params: Type.Object({ offer: Hex('offer_dlc, hex.', MAX_MSG) }, { additionalProperties: false }),
  result: Type.Object({
    temporary_contract_id: Type.String(),
    chain_hash: Type.String(),
    total_collateral_sat: Type.Integer(),
    offer_collateral_sat: Type.Integer(),
    accept_collateral_sat: Type.Integer({ description: 'What accepting puts in (and can lose).' }),
    fee_rate_sat_vb: Type.Integer(),
    cet_locktime: Type.Integer(),
    refund_locktime: Type.Integer(),
    event: Type.Object({
      event_id: Type.String(),
      maturity_epoch: Type.Integer(),
      kind: Type.String(),
      outcomes: Type.Optional(Type.Array(Type.String())),
      base: Type.Optional(Type.Integer()),
      nb_digits: Type.Optional(Type.Integer()),
      unit: Type.Optional(Type.String()),
      precision: Type.Optional(Type.Integer()),
    }),
    oracles: Type.Array(Type.String(), { description: "The oracles' public keys." }),
    threshold: Type.Integer(),
    cets: Type.Integer(),
    adaptor_signatures: Type.Integer(),
    payouts: Type.Array(
      Type.Object({
        outcome: Type.Optional(Type.String()),
        from: Type.Optional(Type.Integer()),
        to: Type.Optional(Type.Integer()),
        offer_payout_sat: Type.Integer(),
        accept_payout_sat: Type.Integer(),
      }),
      { description: 'Enumerated: one per outcome. Numeric: outcome ranges [from, to] with their payouts.' },
    ),
    counterparty: Type.Object({
      funding_pubkey: Type.String(),
      payout_spk: Type.String(),
      change_spk: Type.String(),
      funding_inputs: Type.Array(
        Type.Object({
          txid: Type.Union([Type.String(), Type.Null()]),
          vout: Type.Integer(),
          value_sat: Type.Union([Type.Integer(), Type.Null()]),
          kind: Type.String({ description: 'p2wpkh, p2wsh, p2tr, p2sh-p2wpkh, p2sh-p2wsh, or refused (not segwit, or a v1 program inside P2SH).' }),
        }),
      ),
    }),
    refusal: Type.Union([Type.String(), Type.Null()], { description: 'Why dlc.accept would refuse these terms, or null.' }),
  }),
  errors: ['PolicyDenied'],
  role: 'readonly',
});

const Expect = Type.Object(
  {
    accept_collateral_sat: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_100_000_000_000_000, description: "This party's collateral, exactly." })),
    total_collateral_sat: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_100_000_000_000_000, description: 'The total collateral, exactly.' })),
    max_fee_rate_sat_vb: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'The fee rate, at most.' })),
    event_id: Type.Optional(Type.String({ maxLength: 1000, description: "The oracle event's id, exactly." })),
    latest_refund_locktime: Type.Optional(Type.Integer({ minimum: 0, maximum: 0xffffffff, description: 'The refund locktime, at most.' })),
  },
  { additionalProperties: false, description: 'The terms the app showed its user (dlc.decodeoffer): the offer is refused where it differs.' },
);

export const dlcAccept = declareMethod({
  name: 'dlc.accept',
  summary: 'Accept an offer: check it, sign every CET (adaptor signatures) and the refund; answers accept_dlc (hex) for the offerer.',
  description:
    "Refused before anything is signed: an offer over the room's limits or bounds (dlc.maxfeerate, dlc.minrefunddelay, dlc.maxrefunddelay, dlc.max*: PolicyDenied naming the key), non-standard payout or change scripts, funding inputs that are not segwit or not unspent on chain as their prev_tx says, or terms other than expect.",
  params: Type.Object(
    {
      offer: Type.Optional(Hex('offer_dlc, hex (or id).', MAX_MSG)),
      id: Type.Optional(
        Type.String({
          pattern: '^[0-9a-f]{64}$',
          description:
            'Instead of offer: the temporary id of an offer a peer sent over the peer network (dlc.offered); the accept_dlc goes back to it with the record, and its sign_dlc is finalized by itself.',
        }),
      ),
      utxos: Type.Optional(Utxos),
      expect: Type.Optional(Expect),
    },
    { additionalProperties: false },
  ),
  result: Type.Object({ id: Type.String(), accept: Type.String({ description: 'accept_dlc, hex.' }) }),
  errors: ['Conflict', 'NotFound', 'Unsupported', 'PolicyDenied', 'Locked', 'BackendUnavailable', 'Busy'],
  role: 'admin',
});

export const dlcSign = declareMethod({
  name: 'dlc.sign',
  summary: "At the offerer: check the accepter's signatures, sign CETs, refund and the funding inputs; answers sign_dlc (hex).",
  params: Type.Object({ accept: Hex('accept_dlc, hex.', MAX_MSG) }, { additionalProperties: false }),
  result: Type.Object({ id: Type.String(), contract_id: Type.String(), sign: Type.String({ description: 'sign_dlc, hex.' }) }),
  errors: ['Conflict', 'NotFound', 'Unsupported', 'PolicyDenied', 'Locked', 'BackendUnavailable'],
  role: 'admin',
});

export const dlcFinalize = declareMethod({
  name: 'dlc.finalize',
  summary: "At the accepter: check the offerer's signatures, sign its funding inputs and broadcast the funding transaction.",
  params: Type.Object({ sign: Hex('sign_dlc, hex.', MAX_MSG) }, { additionalProperties: false }),
  result: Type.Object({ id: Type.String(), contract_id: Type.String(), txid: Type.String() }),
  errors: ['Conflict', 'NotFound', 'PolicyDenied', 'Locked', 'BackendRejected', 'BackendUnavailable'],
  role: 'admin',
});

export const dlcClose = declareMethod({
  name: 'dlc.close',
  summary:
    "With the oracle's attestation (a contract on several oracles: attestations of at least its threshold of them, agreeing): complete the CET of the attested outcome and broadcast it.",
  params: Type.Object(
    {
      id: Id,
      attestation: Type.Optional(Hex('oracle_attestation, hex.', 200_000)),
      attestations: Type.Optional(Type.Array(Hex('oracle_attestation, hex.', 200_000), { minItems: 1, maxItems: 20 })),
    },
    { additionalProperties: false },
  ),
  result: Type.Object({ id: Type.String(), outcome: Type.String(), txid: Type.String() }),
  errors: ['Conflict', 'NotFound', 'Unsupported', 'Locked', 'BackendRejected', 'BackendUnavailable'],
  role: 'admin',
});

export const dlcRefund = declareMethod({
  name: 'dlc.refund',
  summary: 'Broadcast the refund transaction (the node refuses it before refund_locktime).',
  params: Type.Object({ id: Id }, { additionalProperties: false }),
  result: Type.Object({ id: Type.String(), txid: Type.String() }),
  errors: ['Conflict', 'NotFound', 'Locked', 'BackendRejected', 'BackendUnavailable'],
  role: 'admin',
});

export const dlcProposeclose = declareMethod({
  name: 'dlc.proposeclose',
  summary:
    "Propose a mutual close of a funded contract: this party takes payout_sat of the total collateral, the other the rest (the fee is the CET fee already in the funding output). Answers close_dlc (node-dlc's close_dlc_v0, type 52170) with this party's signature, for the counterparty's dlc.acceptclose; a contract made over the peer network sends it to its peer too (dlc.closeproposed there).",
  params: Type.Object({ id: Id, payout_sat: Type.Integer({ minimum: 0, maximum: 2_100_000_000_000_000 }) }, { additionalProperties: false }),
  result: Type.Object({ id: Type.String(), close: Type.String(), txid: Type.String(), offer_payout_sat: Type.Integer(), accept_payout_sat: Type.Integer() }),
  errors: ['Conflict', 'NotFound', 'Locked', 'BackendUnavailable'],
  role: 'admin',
});

export const dlcAcceptclose = declareMethod({
  name: 'dlc.acceptclose',
  summary:
    "Take a counterparty's close_dlc: only when it pays this party exactly payout_sat and its signature verifies; completes the close transaction with this party's signature and broadcasts it.",
  params: Type.Object(
    {
      close: Type.Optional(Hex('close_dlc, hex (or id).', 10_000)),
      id: Type.Optional(
        Type.String({
          pattern: '^[0-9a-f]{64}$',
          description:
            'Instead of close: the contract whose counterparty proposed a close over the peer network (dlc.closeproposed); its latest proposal is taken.',
        }),
      ),
      payout_sat: Type.Integer({ minimum: 0, maximum: 2_100_000_000_000_000, description: 'What this party expects the close to pay it.' }),
    },
    { additionalProperties: false },
  ),
  result: Type.Object({ id: Type.String(), txid: Type.String() }),
  errors: ['Conflict', 'NotFound', 'Locked', 'BackendRejected', 'BackendUnavailable'],
  role: 'admin',
});

export const dlcCancel = declareMethod({
  name: 'dlc.cancel',
  summary:
    'Drop a contract not funded: offered, accepted, or signed (or broadcast once) with its funding transaction neither on chain nor in the mempool now and our funding inputs unspent (refused otherwise); its coins may fund another one. An offer a peer sent over the peer network (dlc.offered) and not accepted is declined: dropped, state declined.',
  params: Type.Object({ id: Id }, { additionalProperties: false }),
  result: Type.Object({ id: Type.String(), state: Type.String() }),
  errors: ['Conflict', 'NotFound'],
  role: 'admin',
});

export const dlcList = declareMethod({
  name: 'dlc.list',
  summary: 'Every contract, oldest first, with its state.',
  params: NoParams,
  result: Type.Array(ContractT),
  role: 'readonly',
});

export const dlcGet = declareMethod({
  name: 'dlc.get',
  summary: 'One contract with its messages (hex) as exchanged.',
  description:
    "The accept and sign messages carry both parties' CET adaptor signatures and refund signatures, which anyad keeps sealed by the HSM room: a user or admin caller gets them opened while the keystore is open; a readonly caller, or any caller while the keystore is locked, gets the messages with those signatures blanked (zero count, zero refund signature), as `signatures` says.",
  params: Type.Object({ id: Id }, { additionalProperties: false }),
  result: Type.Intersect([
    ContractT,
    Type.Object({
      offer: Type.String(),
      accept: Type.Union([Type.String(), Type.Null()]),
      sign: Type.Union([Type.String(), Type.Null()]),
      signatures: Type.Union([Type.Literal('included'), Type.Literal('omitted')], {
        description: 'included: the messages as exchanged; omitted: without their CET and refund signatures (readonly caller, or keystore locked).',
      }),
    }),
  ]),
  errors: ['NotFound', 'Conflict', 'BackendUnavailable'],
  role: 'readonly',
});

export const DLC_METHODS: readonly MethodDeclaration[] = [
  dlcVerifyannouncement,
  dlcVerifyattestation,
  dlcFetchannouncement,
  dlcOffer,
  dlcDecodeoffer,
  dlcAccept,
  dlcSign,
  dlcFinalize,
  dlcClose,
  dlcRefund,
  dlcProposeclose,
  dlcAcceptclose,
  dlcCancel,
  dlcList,
  dlcGet,
];
