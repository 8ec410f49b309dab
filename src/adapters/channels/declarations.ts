// The declarations of the sc.* methods (state channels): data the docs and the daemon read without the room's code;
// the handlers are bound in methods.ts.

import { Type } from '@sinclair/typebox';
import { declareMethod, NoParams, type MethodDeclaration } from '../../core/methods.js';

const Id = Type.String({ pattern: '^[0-9a-f]{64}$', description: 'The channel id sc.open answered (sc.list shows them).' });
const Sat = Type.Integer({ minimum: 0, maximum: 21_000_000 * 100_000_000 });
const AppHash = Type.String({ pattern: '^[0-9a-fA-F]{64}$', description: "32 bytes of the application's state (a hash), carried by every commitment." });
/** A message as hex; they are small (under 16 kB). */
const Message = Type.String({
  minLength: 2,
  maxLength: 32_768,
  pattern: '^([0-9a-fA-F]{2})+$',
  description: 'A state channel message as hex, as the other anyad answered it.',
});
const Peer = Type.String({
  pattern: '^0[23][0-9a-f]{64}$',
  description: "The counterparty's node key (peer.list, peer.getinfo): the channel runs over the peer network with it.",
});
const Utxos = Type.Array(
  Type.Object({ txid: Type.String({ pattern: '^[0-9a-fA-F]{64}$' }), vout: Type.Integer({ minimum: 0, maximum: 100_000 }) }, { additionalProperties: false }),
  {
    minItems: 1,
    maxItems: 50,
    description:
      'The funding inputs: unspent P2WPKH outputs of keystore keys or of the wallet (signed through hsm.signpsbt and its policy). When omitted, the wallet room chooses P2WPKH coins and promises them to the channel (holder sc:<id>, see wallet.listreservations) until it is funded or cancelled; the funding change then goes to a wallet change address.',
  },
);

export const ChannelT = Type.Object({
  id: Type.String(),
  role: Type.String({ description: 'opener or accepter.' }),
  state: Type.String({
    description:
      'opening, accepted, funding, open, closing (cooperative close sent), force_closing (our commitment on chain), remote_closing (theirs), penalizing (a revoked state of theirs on chain), closed, cancelled (never funded), or failed (see failure: the funding output on chain is not this channel, or it was spent by a transaction that is no close or commitment of it).',
  }),
  capacity_sat: Sat,
  fee_sat: Type.Integer({ description: 'The commitment and closing fee, paid by the opener.' }),
  to_self_delay: Type.Integer({
    description:
      'Blocks this side waits for its own balance after broadcasting its commitment: what the counterparty required of it (0 for the opener until the accept).',
  }),
  their_to_self_delay: Type.Integer({
    description:
      'Blocks the counterparty waits after broadcasting its commitment: what this side required of it, the window to punish a revoked state of theirs.',
  }),
  failure: Type.Union([Type.String(), Type.Null()], { description: 'Why the channel failed (state failed), else null.' }),
  number: Type.Integer({ description: 'The latest state both signed.' }),
  to_opener_sat: Sat,
  to_accepter_sat: Sat,
  app_hash: Type.String(),
  pending: Type.Union([Type.Integer(), Type.Null()], { description: 'A state in flight (proposed or acknowledged, not yet revoked on both sides).' }),
  funding_txid: Type.Union([Type.String(), Type.Null()]),
  funding_vout: Type.Union([Type.Integer(), Type.Null()]),
  closing_txid: Type.Union([Type.String(), Type.Null()]),
  closed_by: Type.Union([Type.String(), Type.Null()], {
    description:
      'cooperative, unilateral, remote_unilateral, penalty, or unknown (a spend of the funding output that is no close or commitment of the channel).',
  }),
  their_revoked: Type.Integer({ description: "The counterparty's highest revoked state (-1: none)." }),
  claim_txid: Type.Union([Type.String(), Type.Null()], { description: 'Our sweep or penalty transaction while it confirms.' }),
  keys: Type.Object(
    { funding: Type.String(), revocation: Type.String(), payment: Type.String(), delayed: Type.String() },
    {
      description:
        "The keystore keys (hsm.listkeys ids). The payment key takes this side's balance when the counterparty's commitment closes the channel, and closes, sweeps and penalties when payout says nothing else.",
    },
  ),
  payout: Type.Object(
    {
      close: Type.Union([Type.String(), Type.Null()], {
        description:
          "The address this side's balance of the cooperative close pays: the payout script its open or accept named (a wallet address when the wallet room is on) once the counterparty's message named one too; else the payment key's.",
      }),
      their_close: Type.Union([Type.String(), Type.Null()], { description: "The address the counterparty's balance of the cooperative close pays." }),
      claim: Type.Union([Type.String(), Type.Null()], {
        description:
          "The address our sweep (after a unilateral close of ours) and penalties pay: a wallet address taken once for the channel, or the payment key's.",
      }),
    },
    { description: 'Where what the channel pays on chain goes (null: not known yet, the counterparty has not answered).' },
  ),
  peer: Type.Union([Type.String(), Type.Null()], {
    description: "The counterparty's node key when the channel runs over the peer network (its messages go and come by themselves); null: apps carry them.",
  }),
  created: Type.String(),
  updated: Type.String(),
});

const Step = Type.Object({
  id: Type.String(),
  state: Type.String(),
  number: Type.Integer({
    description:
      "The latest state this side holds signed by both. After the counterparty's update it is not final until their revoke comes (they can still use the state before; sc.get shows it as pending): the sc.channel event with this number comes then.",
  }),
  message: Type.Union([Type.String(), Type.Null()], { description: 'The message to carry to the other anyad (sc.receive), or null.' }),
  txid: Type.Optional(Type.String({ description: 'A transaction this step broadcast (the funding, the cooperative close).' })),
  justice: Type.Optional(
    Type.Object(
      { hint: Type.String(), blob: Type.String() },
      { description: "With sc.justice: the encrypted penalty for the counterparty's state revoked by this step, for a tower (sc.towerwatch)." },
    ),
  ),
});

export const scOpen = declareMethod({
  name: 'sc.open',
  summary: 'Offers a channel funded by this anyad: the open message for the counterparty (sc.accept).',
  description:
    "Makes the channel keys in the keystore (a PKCS#11 token cannot sign with BOLT 3 tweaked keys: refused) and the open message. With peer, the channel runs over the peer network: the open message is saved and queued to that peer in one batch (delivered once it is connected, exactly once, across restarts), and every later message of the channel goes and comes by itself (sc.update and sc.close send theirs; the counterparty's steps are taken on receipt); Unsupported when the p2p room is off (p2p.enable). The funding transaction is made when the accept comes back, and signed and broadcast only after both first commitments are signed. The opener pays the commitment fee (fee_rate_sat_vb × 202 vB) out of its balance.",
  params: Type.Object(
    {
      capacity_sat: Type.Integer({ minimum: 10_000, maximum: 21_000_000 * 100_000_000 }),
      push_sat: Type.Integer({ minimum: 0, maximum: 21_000_000 * 100_000_000, default: 0, description: "The accepter's balance in the first state." }),
      to_self_delay: Type.Integer({
        minimum: 1,
        maximum: 65535,
        default: 144,
        description:
          "Blocks the accepter waits for its own funds after broadcasting its commitment: the window to punish a revoked state of the accepter's (BOLT 2: what the opener requires of the other side). At least sc.mintoselfdelay. The accepter names the one this side waits.",
      }),
      fee_rate_sat_vb: Type.Integer({
        minimum: 2,
        maximum: 10_000,
        default: 2,
        description: 'At least 2: the commitment fee is this × 202 vB, and a commitment is 224 vB, so 1 would stay under the relay floor.',
      }),
      app_hash: Type.Optional(AppHash),
      utxos: Type.Optional(Utxos),
      peer: Type.Optional(Peer),
    },
    { additionalProperties: false },
  ),
  result: Type.Object({ id: Type.String(), message: Type.String() }),
  errors: ['InvalidParams', 'NotFound', 'Conflict', 'PolicyDenied', 'Unsupported', 'Locked', 'BackendUnavailable', 'Busy'],
  role: 'admin',
});

export const scAccept = declareMethod({
  name: 'sc.accept',
  summary:
    'Accepts a channel offered by another anyad: its open message carried by hand (the accept message to carry back), or by id the offer a peer sent (the accept goes back to it by itself).',
  description:
    'Exactly one of message and id. With id, the offer a peer sent over the peer network (sc.offered, sc.inbox): the channel runs over it from here, funding and all later steps taken on receipt. The open message is refused when it is not signed by the funding key it names, a key or point in it is not a valid secp256k1 public key, it leaves a balance under the dust limit, or the to_self_delay it requires of this side is over sc.maxtoselfdelay.',
  params: Type.Object(
    {
      message: Type.Optional(Message),
      id: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$', description: 'A channel a peer offered (sc.offered, sc.inbox).' })),
      to_self_delay: Type.Optional(
        Type.Integer({
          minimum: 1,
          maximum: 65535,
          description:
            "Blocks the opener waits for its own funds after broadcasting its commitment: the window to punish a revoked state of the opener's (BOLT 2: what this side requires of the other). sc.toselfdelay unless given; at least sc.mintoselfdelay.",
        }),
      ),
    },
    { additionalProperties: false },
  ),
  result: Type.Object({ id: Type.String(), message: Type.String() }),
  errors: ['InvalidParams', 'NotFound', 'Conflict', 'PolicyDenied', 'Unsupported', 'Locked', 'Busy'],
  role: 'admin',
});

export const scReceive = declareMethod({
  name: 'sc.receive',
  summary: 'Takes any message after open (accept, funding_created, funding_signed, update, ack, revoke, close) and answers the next one to carry back.',
  description:
    "Each message is checked before anything is read from it: this network, a known channel, signed by the counterparty's channel key, the step the channel is at (a replay is refused). Every counterparty signature must be strict DER (BIP66), low S (BIP146) and on the transaction it is for. funding_created must carry the funding transaction, whose output at the named outpoint pays exactly the capacity to the 2-of-2 of both funding keys (checked again on chain before the channel is open). An update is refused when its state breaks a rule: a number that is not the next, balances not adding up to the capacity minus the fee, a dust balance, a counterparty signature not on our commitment, an application rule; and, with PolicyDenied (data.rule sc.consent, data.pays_sat), when it lowers this side's balance by more than max_pay_sat or sc.autopaymaxsat allow. Our revocation secret leaves only after their signature on our new commitment is verified and stored. A revealed secret must match its point. Everything a step changes is durable before its answer.",
  params: Type.Object(
    {
      message: Message,
      max_pay_sat: Type.Optional(
        Type.Integer({
          minimum: 0,
          maximum: 21_000_000 * 100_000_000,
          description:
            "The most this side's balance may go down in the state this one message proposes (an update from the counterparty), when that is more than sc.autopaymaxsat. The amount is worked out by anyad from the states, never read from the message: give here what the user agreed to pay in this update (a refusal names the amount asked in data.pays_sat). Applies to this call only.",
        }),
      ),
    },
    { additionalProperties: false },
  ),
  result: Step,
  errors: ['InvalidParams', 'NotFound', 'Conflict', 'PolicyDenied', 'Locked', 'BackendRejected', 'BackendUnavailable'],
  role: 'admin',
});

export const scUpdate = declareMethod({
  name: 'sc.update',
  summary:
    'Proposes the next state (both balances and the app data): the update message for the counterparty; for a channel with a peer, saved and queued to it in one batch (the ack and revoke follow by themselves).',
  params: Type.Object({ id: Id, to_opener_sat: Sat, to_accepter_sat: Sat, app_hash: Type.Optional(AppHash) }, { additionalProperties: false }),
  result: Type.Object({ id: Type.String(), number: Type.Integer(), message: Type.String() }),
  errors: ['InvalidParams', 'NotFound', 'Conflict', 'PolicyDenied', 'Locked', 'Unsupported', 'Busy'],
  role: 'admin',
});

export const scClose = declareMethod({
  name: 'sc.close',
  summary:
    "Proposes the cooperative close of the current state: the close message, which the counterparty's anyad signs and broadcasts (for a channel with a peer, queued to it in the batch that saves the close).",
  params: Type.Object({ id: Id }, { additionalProperties: false }),
  result: Type.Object({ id: Type.String(), message: Type.String() }),
  errors: ['NotFound', 'Conflict', 'PolicyDenied', 'Locked', 'Unsupported', 'Busy'],
  role: 'admin',
});

export const scForceclose = declareMethod({
  name: 'sc.forceclose',
  summary: 'Broadcasts our latest commitment; our balance comes back to the payment key after to_self_delay blocks, swept by anyad.',
  params: Type.Object({ id: Id }, { additionalProperties: false }),
  result: Type.Object({ id: Type.String(), txid: Type.String(), number: Type.Integer() }),
  errors: ['NotFound', 'Conflict', 'PolicyDenied', 'Locked', 'BackendRejected', 'BackendUnavailable'],
  role: 'admin',
});

export const scCancel = declareMethod({
  name: 'sc.cancel',
  summary:
    "Drops a channel whose funding never reached the mempool or the chain (offered, accepted, or the opener's while the node knows no funding transaction and its coins are unspent): its coins may fund another. An offer a peer made over the peer network (sc.inbox) and not accepted is declined: dropped, state declined.",
  description:
    "Refused (Conflict) while the opener's funding transaction is in the mempool or on chain, or one of its funding coins is spent. A cancelled channel whose funding transaction appears later is followed again (state funding).",
  params: Type.Object({ id: Id }, { additionalProperties: false }),
  result: Type.Object({ id: Type.String(), state: Type.String() }),
  errors: ['NotFound', 'Conflict'],
  role: 'admin',
});

export const scTowerwatch = declareMethod({
  name: 'sc.towerwatch',
  summary:
    'Holds a justice blob as a watchtower: when a transaction whose txid starts with the hint appears (mempool or block), the blob is opened with that txid and its penalty broadcast.',
  description:
    "For channels this anyad need not be party to: the victim's anyad (with sc.justice) answers a blob for every revoked state of its counterparty, and an app hands it here. The blob is the penalty transaction encrypted (AES-256-GCM) with a key derived from the revoked commitment's txid, so the tower learns nothing about the channel until that commitment is on chain. Held durably; a tower holds up to 1,000,000 blobs.",
  params: Type.Object(
    {
      hint: Type.String({ pattern: '^[0-9a-fA-F]{32}$', description: "The first 16 bytes of the revoked commitment's txid (hex)." }),
      blob: Type.String({ minLength: 200, maxLength: 4096, pattern: '^([0-9a-fA-F]{2})+$' }),
    },
    { additionalProperties: false },
  ),
  result: Type.Object({ hint: Type.String(), watched: Type.Integer({ description: 'Distinct hints this tower holds.' }) }),
  errors: ['InvalidParams', 'Busy'],
  role: 'admin',
});

export const scList = declareMethod({
  name: 'sc.list',
  summary: 'Every channel, oldest first, with its latest state.',
  params: NoParams,
  result: Type.Array(ChannelT),
  role: 'readonly',
});

export const scGet = declareMethod({
  name: 'sc.get',
  summary: 'One channel with its latest state.',
  params: Type.Object({ id: Id }, { additionalProperties: false }),
  result: ChannelT,
  errors: ['NotFound'],
  role: 'readonly',
});

export const scApprove = declareMethod({
  name: 'sc.approve',
  summary: "Signs the counterparty's update that waits for approval (over sc.autopaymaxsat; sc.approval, sc.inbox): the ack goes back to the peer by itself.",
  description:
    "max_pay_sat is what the user agrees this one update may take out of this side's balance (worked out by anyad from the states, shown by sc.approval as pays_sat): under it, refused with PolicyDenied and the update still waits. Every other rule of sc.receive applies; an update refused by one for good (the channel closed meanwhile) waits no longer.",
  params: Type.Object({ id: Id, max_pay_sat: Sat }, { additionalProperties: false }),
  result: Step,
  errors: ['InvalidParams', 'NotFound', 'Conflict', 'PolicyDenied', 'Locked', 'Unsupported', 'Busy'],
  role: 'admin',
});

const OfferT = Type.Object({
  id: Type.String(),
  peer: Type.String(),
  message: Type.String({ description: 'The open message as the peer sent it (hex).' }),
  capacity_sat: Type.Integer(),
  push_sat: Type.Integer(),
  fee_rate_sat_vb: Type.Integer(),
  to_self_delay: Type.Integer({ description: 'What the opener requires of this side.' }),
  app_hash: Type.String(),
  received: Type.String(),
});
const HeldT = Type.Object({
  id: Type.String(),
  peer: Type.String(),
  message: Type.String({ description: 'The update message as the peer sent it (hex).' }),
  number: Type.Integer(),
  pays_sat: Type.Integer({ description: "What it takes out of this side's balance (worked out from the states)." }),
  to_opener_sat: Type.Integer(),
  to_accepter_sat: Type.Integer(),
  received: Type.String(),
});

export const scInbox = declareMethod({
  name: 'sc.inbox',
  summary: "What peers sent that waits for this side's decision: channel offers (sc.accept id=) and updates over sc.autopaymaxsat (sc.approve).",
  params: NoParams,
  result: Type.Object({ offers: Type.Array(OfferT), approvals: Type.Array(HeldT) }),
  role: 'readonly',
});

export const SC_METHODS: readonly MethodDeclaration[] = [
  scOpen,
  scAccept,
  scReceive,
  scUpdate,
  scClose,
  scForceclose,
  scCancel,
  scTowerwatch,
  scList,
  scGet,
  scApprove,
  scInbox,
];
