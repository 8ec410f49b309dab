// The Lightning room's events.

import { Type } from '@sinclair/typebox';
import { defineTopic } from '../../core/events.js';

export const LN_INVOICE = defineTopic({
  name: 'ln.invoice',
  summary: 'An invoice was created, settled or canceled (settled events are reported exactly once, across restarts).',
  data: Type.Object(
    {
      backend: Type.String(),
      status: Type.String(),
      payment_hash: Type.String(),
      label: Type.Optional(Type.String()),
      amount_msat: Type.Optional(Type.Union([Type.Integer(), Type.Null()])),
      amount_received_msat: Type.Optional(Type.Union([Type.Integer(), Type.Null()])),
      created_index: Type.Optional(Type.Integer({ description: "Core Lightning's wait index of the invoice (created)." })),
      updated_index: Type.Optional(Type.Integer({ description: "Core Lightning's wait index of the invoice (settled)." })),
      add_index: Type.Optional(Type.Integer({ description: "LND's add_index of the invoice (created)." })),
      settle_index: Type.Optional(Type.Integer({ description: "LND's settle_index of the invoice (settled)." })),
    },
    { additionalProperties: true },
  ),
});

export const LN_PAYMENT = defineTopic({
  name: 'ln.payment',
  role: 'user',
  summary: 'A payment made through anyad succeeded or failed (user role: what the node pays is not for every reader).',
  data: Type.Object(
    {
      backend: Type.String(),
      status: Type.String(),
      payment_hash: Type.String(),
      amount_msat: Type.Optional(Type.Union([Type.Integer(), Type.Null()])),
      fee_msat: Type.Optional(Type.Union([Type.Integer(), Type.Null()])),
      reason: Type.Optional(Type.String()),
    },
    { additionalProperties: true },
  ),
});

export const LN_CHANNEL = defineTopic({
  name: 'ln.channel',
  summary: 'A channel of the node is pending, opened, active, inactive, closing or closed (whoever changed it; seen within ln.watchinterval).',
  data: Type.Object(
    {
      backend: Type.String(),
      status: Type.String(),
      channel_id: Type.String(),
      short_channel_id: Type.Optional(Type.Union([Type.String(), Type.Null()])),
      peer: Type.String(),
      state: Type.Optional(Type.String()),
      capacity_sat: Type.Optional(Type.Union([Type.Integer(), Type.Null()])),
    },
    { additionalProperties: true },
  ),
});

export const LN_PEER = defineTopic({
  name: 'ln.peer',
  summary: 'A peer of the node connected or disconnected (seen within ln.watchinterval).',
  data: Type.Object(
    {
      backend: Type.String(),
      status: Type.String(),
      id: Type.String(),
      address: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    },
    { additionalProperties: true },
  ),
});

export const LN_TOPICS = [LN_INVOICE, LN_PAYMENT, LN_CHANNEL, LN_PEER];
