// The state channels room's events: every transition of every channel, every new state both parties signed, the
// tower's penalties, and what peers send over the peer network (offers, updates waiting for approval, refusals).

import { Type } from '@sinclair/typebox';
import { defineTopic } from '../../core/events.js';

export const SC_CHANNEL = defineTopic({
  name: 'sc.channel',
  summary:
    'A channel changed state (opening, accepted, funding, open, closing, force_closing, remote_closing, penalizing, closed, failed) or holds a new signed state that is final for this side (the counterparty revoked the state before it: to the proposer with the ack, to the other side with the revoke; a state acknowledged but not yet revoked is shown as pending by sc.get, and the counterparty can still use the one before); with the previous state, the state number, both balances, the app data and the transaction concerned.',
  data: Type.Object(
    {
      id: Type.String(),
      state: Type.String(),
      previous: Type.Union([Type.String(), Type.Null()]),
      number: Type.Integer(),
      to_opener_sat: Type.Integer(),
      to_accepter_sat: Type.Integer(),
      app_hash: Type.String(),
      txid: Type.Union([Type.String(), Type.Null()]),
    },
    { additionalProperties: false },
  ),
});

export const SC_TOWER = defineTopic({
  name: 'sc.tower',
  summary: 'As a watchtower (sc.towerwatch): a revoked commitment appeared and the penalty of its blob was broadcast.',
  data: Type.Object({ breach_txid: Type.String(), penalty_txid: Type.String() }, { additionalProperties: false }),
});

export const SC_OFFERED = defineTopic({
  name: 'sc.offered',
  summary:
    'A peer offered a channel over the peer network (its open message checked as sc.accept checks one, and kept): sc.accept id= accepts it, sc.inbox lists the offers waiting. to_self_delay is what the opener requires of this side.',
  data: Type.Object(
    {
      id: Type.String(),
      peer: Type.String(),
      capacity_sat: Type.Integer(),
      push_sat: Type.Integer(),
      fee_rate_sat_vb: Type.Integer(),
      to_self_delay: Type.Integer(),
      app_hash: Type.String(),
    },
    { additionalProperties: false },
  ),
});

export const SC_APPROVAL = defineTopic({
  name: 'sc.approval',
  summary:
    "The counterparty's update over the peer network pays it more out of this side's balance than sc.autopaymaxsat allows: kept, unsigned, until sc.approve (id, max_pay_sat) takes it; sc.inbox lists the updates waiting.",
  data: Type.Object(
    {
      id: Type.String(),
      peer: Type.String(),
      number: Type.Integer(),
      pays_sat: Type.Integer(),
      to_opener_sat: Type.Integer(),
      to_accepter_sat: Type.Integer(),
    },
    { additionalProperties: false },
  ),
});

export const SC_REFUSED = defineTopic({
  name: 'sc.refused',
  summary:
    "A state channel message from a peer was refused and not processed: from a peer that is not the channel's counterparty, for an unknown channel, replayed, malformed, or breaking a rule (the reason says which). It is taken (not sent again); the channel stays as it was.",
  data: Type.Object(
    {
      peer: Type.String(),
      channel: Type.Union([Type.String(), Type.Null()]),
      type: Type.String(),
      reason: Type.String(),
    },
    { additionalProperties: false },
  ),
});

export const SC_JUSTICE = defineTopic({
  name: 'sc.justice',
  summary:
    "With sc.justice, a step taken over the peer network revoked a state of the counterparty: the encrypted penalty for it, for an app to give to a tower (another anyad's sc.towerwatch), as sc.receive answers it for a message carried by hand.",
  data: Type.Object({ id: Type.String(), number: Type.Integer(), hint: Type.String(), blob: Type.String() }, { additionalProperties: false }),
});

export const SC_TOPICS = [SC_CHANNEL, SC_TOWER, SC_OFFERED, SC_APPROVAL, SC_REFUSED, SC_JUSTICE];
