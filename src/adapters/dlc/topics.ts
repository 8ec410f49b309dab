// The DLC room's events: every transition of every contract; offers taken from peers; peers' messages refused.

import { Type } from '@sinclair/typebox';
import { defineTopic } from '../../core/events.js';

export const DLC_CONTRACT = defineTopic({
  name: 'dlc.contract',
  summary:
    'A contract changed state: offered, accepted, signed, broadcast, confirmed, closing (a CET sent), closed, refunding, refunded; with the previous state and the transaction concerned.',
  data: Type.Object(
    {
      id: Type.String({ description: 'The temporary contract id (the key dlc.* methods take).' }),
      contract_id: Type.Union([Type.String(), Type.Null()]),
      state: Type.String(),
      previous: Type.Union([Type.String(), Type.Null()]),
      txid: Type.Union([Type.String(), Type.Null()]),
      outcome: Type.Union([Type.String(), Type.Null()]),
    },
    { additionalProperties: false },
  ),
});

export const DLC_OFFERED = defineTopic({
  name: 'dlc.offered',
  summary:
    'A peer sent an offer over the peer network (dlc.offer peer=): its terms as dlc.decodeoffer reads them, or why dlc.accept would refuse it. Nothing is signed on receipt: dlc.accept id=<id> takes it.',
  data: Type.Object(
    {
      id: Type.String({ description: 'The temporary contract id (dlc.accept id=).' }),
      peer: Type.String({ description: "The offerer's node key." }),
      terms: Type.Union([Type.Unknown(), Type.Null()], { description: "dlc.decodeoffer's answer for the offer, or null when it could not be read." }),
      refusal: Type.Union([Type.String(), Type.Null()], { description: 'Why dlc.accept would refuse it, or null.' }),
    },
    { additionalProperties: false },
  ),
});

export const DLC_REFUSED = defineTopic({
  name: 'dlc.refused',
  summary:
    "A DLC message from a peer refused and dropped, never signed: not from the contract's counterparty, for an unknown contract, a replay, malformed, or over the room's limits.",
  data: Type.Object(
    {
      peer: Type.String(),
      type: Type.Integer({ description: 'The message type (42778 offer_dlc, 42780 accept_dlc, 42782 sign_dlc, 52170 close_dlc, 42900/42902 segments).' }),
      id: Type.Union([Type.String(), Type.Null()], { description: 'The temporary contract id or contract id it named, when it could be read.' }),
      reason: Type.String(),
    },
    { additionalProperties: false },
  ),
});

export const DLC_CLOSEPROPOSED = defineTopic({
  name: 'dlc.closeproposed',
  summary:
    "A contract's peer proposed a mutual close over the peer network (its dlc.proposeclose): what it pays each party. Nothing is signed on receipt: dlc.acceptclose id=<id> payout_sat=<what this party expects> takes it.",
  data: Type.Object(
    {
      id: Type.String({ description: 'The temporary contract id.' }),
      peer: Type.String(),
      payout_sat: Type.Integer({ description: 'What the close pays this party.' }),
      offer_payout_sat: Type.Integer(),
      accept_payout_sat: Type.Integer(),
    },
    { additionalProperties: false },
  ),
});

export const DLC_TOPICS = [DLC_CONTRACT, DLC_OFFERED, DLC_REFUSED, DLC_CLOSEPROPOSED];
