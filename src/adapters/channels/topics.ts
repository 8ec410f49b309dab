// The state channels room's event: every transition of every channel, and every new state both parties signed.

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

export const SC_TOPICS = [SC_CHANNEL, SC_TOWER];
