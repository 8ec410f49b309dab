// The DLC room's event: every transition of every contract.

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

export const DLC_TOPICS = [DLC_CONTRACT];
