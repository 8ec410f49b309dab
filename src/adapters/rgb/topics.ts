// The RGB room's event topics, declared apart from their code so the reference lists them without loading it.

import { Type } from '@sinclair/typebox';
import { defineTopic } from '../../core/events.js';

const Status = Type.Union([Type.Literal('waiting_counterparty'), Type.Literal('waiting_confirmations'), Type.Literal('settled'), Type.Literal('failed')]);
const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

export const RGB_TRANSFER = defineTopic({
  name: 'rgb.transfer',
  summary:
    'An RGB transfer on the node appeared or changed status (waiting_counterparty, waiting_confirmations, settled, failed): each change once, across restarts of anyad and of the node.',
  data: Type.Object(
    {
      asset_id: Type.String(),
      idx: Type.Integer(),
      kind: Type.String({ description: 'issuance, receive_blind, receive_witness, send or inflation.' }),
      status: Status,
      previous: Type.Union([Status, Type.Null()], { description: 'The status anyad reported before (null: a transfer not seen before).' }),
      amount: Type.Integer(),
      txid: Nullable(Type.String()),
      recipient_id: Nullable(Type.String()),
      label: Nullable(Type.String({ description: "The label of anyad's operation it belongs to." })),
    },
    { additionalProperties: true },
  ),
});

export const RGB_ASSET = defineTopic({
  name: 'rgb.asset',
  summary: 'An RGB asset appeared on the node (issued through anyad or elsewhere, or received).',
  data: Type.Object(
    {
      asset_id: Type.String(),
      schema: Type.String(),
      name: Type.String(),
      ticker: Nullable(Type.String()),
      precision: Type.Integer(),
      issued_supply: Type.Union([Type.Integer(), Type.Null()]),
      label: Nullable(Type.String()),
    },
    { additionalProperties: false },
  ),
});

export const RGB_TOPICS = [RGB_TRANSFER, RGB_ASSET];
