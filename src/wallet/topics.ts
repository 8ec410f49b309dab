// The wallet room's events.

import { Type } from '@sinclair/typebox';
import { defineTopic } from '../core/events.js';

export const WALLET_TX = defineTopic({
  name: 'wallet.tx',
  summary:
    'A wallet transaction was received, sent, confirmed, reorged (back to unconfirmed), conflicted (a double spend confirmed), replaced (a BIP125 replacement took its place: replaced_by) or abandoned (a coinbase reorged out). seq grows by one per event, in the order the events are published, and is never reused across restarts. Events are kept (wallet.eventlog): to miss none, subscribe, then call wallet.listevents since=<the last seq seen> (and again with its last seq while it returns limit events), dropping any event whose seq was already seen.',
  data: Type.Object(
    {
      seq: Type.Integer({ minimum: 1 }),
      txid: Type.String(),
      status: Type.Union(['received', 'sent', 'confirmed', 'reorged', 'conflicted', 'abandoned', 'replaced'].map((s) => Type.Literal(s))),
      height: Type.Union([Type.Integer(), Type.Null()]),
      amount_sat: Type.Integer({ description: 'What it moved for the wallet: received minus spent (negative when sending).' }),
      fee_sat: Type.Union([Type.Integer(), Type.Null()]),
      replaced_by: Type.Optional(Type.String({ description: 'The replacement (status replaced).' })),
    },
    { additionalProperties: false },
  ),
});

export const WALLET_RESCAN = defineTopic({
  name: 'wallet.rescan',
  summary: 'Progress of wallet.rescan: every 100 blocks and at the end (done).',
  data: Type.Object(
    {
      height: Type.Integer(),
      from_height: Type.Integer(),
      to_height: Type.Integer(),
      transactions_found: Type.Integer(),
      done: Type.Boolean(),
    },
    { additionalProperties: false },
  ),
});

export const WALLET_TOPICS = [WALLET_TX, WALLET_RESCAN];
