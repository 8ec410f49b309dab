// The p2p room's events.

import { Type } from '@sinclair/typebox';
import { defineTopic } from '../core/events.js';

export const PEER_CONNECTED = defineTopic({
  name: 'peer.connected',
  summary: 'A peer finished the handshake (BOLT 8) and the init exchange (BOLT 1): messages may flow.',
  data: Type.Object(
    {
      pubkey: Type.String({ description: "The peer's node key, 66 hex characters." }),
      address: Type.String({ description: 'host:port of the connection.' }),
      direction: Type.Union([Type.Literal('inbound'), Type.Literal('outbound')]),
    },
    { additionalProperties: false },
  ),
});

export const PEER_DISCONNECTED = defineTopic({
  name: 'peer.disconnected',
  summary: 'A connected peer went away; reason says why (its close, a timeout, a protocol fault, peer.disconnect).',
  data: Type.Object({ pubkey: Type.String(), reason: Type.String() }, { additionalProperties: false }),
});

export const CustomMsgT = Type.Object(
  {
    seq: Type.Integer({ description: 'Number in the custom-message inbox: grows by one per message taken, kept across restarts.' }),
    pubkey: Type.String({ description: 'The sender.' }),
    peer_seq: Type.Integer({ description: "The sender's sequence number of the message in its outbox to us." }),
    type: Type.Integer({ description: 'The message type given to peer.sendcustommsg (odd).' }),
    payload: Type.String({ description: 'The payload, hex.' }),
  },
  { additionalProperties: false },
);

export const PEER_CUSTOMMSG = defineTopic({
  name: 'peer.custommsg',
  summary:
    'A peer delivered a custom message (its peer.sendcustommsg), taken exactly once and durable in the inbox before this is published. To miss none: subscribe, then peer.listcustommsgs since=<the last seq seen>, dropping seqs already seen.',
  data: CustomMsgT,
});

export const P2P_TOPICS = [PEER_CONNECTED, PEER_DISCONNECTED, PEER_CUSTOMMSG];
