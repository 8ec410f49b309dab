// The p2p room's methods, as data (Core Lightning's connect / listpeers / disconnect and LND's ConnectPeer as the
// anchor): this node's identity and listener, connecting to a peer by <pubkey>@<host>:<port>, the peers, and
// disconnecting one.

import { Type } from '@sinclair/typebox';
import { declareMethod, NoParams, type MethodDeclaration } from '../core/methods.js';
import { KEEP } from './custommsg.js';
import { CustomMsgT } from './topics.js';

const Pubkey = Type.String({ pattern: '^0[23][0-9a-fA-F]{64}$', description: 'A node key: 66 hex characters (compressed secp256k1 point).' });

export const PeerT = Type.Object({
  pubkey: Type.String(),
  address: Type.String({ description: 'host:port of the connection, or where a persistent peer is dialed.' }),
  direction: Type.Union([Type.Literal('inbound'), Type.Literal('outbound'), Type.Null()], { description: 'null while not connected.' }),
  connected: Type.Boolean(),
  persistent: Type.Boolean({ description: 'Marked by peer.connect: reconnected by anyad, with backoff, whenever it is lost.' }),
  since: Type.Union([Type.String(), Type.Null()], { description: 'When the connection was made (ISO time).' }),
  features: Type.Array(Type.Integer(), { description: "The feature bits of the peer's init." }),
  outbox_messages: Type.Integer({ description: 'Durable messages to this peer not yet acknowledged.' }),
  outbox_bytes: Type.Integer({ description: 'Their payload bytes (bounded by p2p.maxoutboxbytes).' }),
  sent_seq: Type.Integer({ description: 'The last sequence number given to a durable message to this peer (0: none).' }),
  taken_seq: Type.Integer({ description: 'The last sequence number taken from this peer, durably (0: none).' }),
});

export const peerGetinfo = declareMethod({
  name: 'peer.getinfo',
  summary: "This node's key on the peer network and where it listens.",
  params: NoParams,
  result: Type.Object({
    pubkey: Type.Union([Type.String(), Type.Null()], { description: 'The node key (66 hex); null until the HSM has it (a keystore locked since start).' }),
    listening: Type.Union([Type.Object({ host: Type.String(), port: Type.Integer() }), Type.Null()]),
    peers: Type.Integer({ description: 'Connected peers.' }),
    pending_handshakes: Type.Integer({ description: 'Inbound connections still in their handshake.' }),
    health: Type.Object({ state: Type.String(), detail: Type.String() }),
  }),
  role: 'readonly',
});

export const peerConnect = declareMethod({
  name: 'peer.connect',
  summary: 'Connect to a peer (BOLT 8 handshake, BOLT 1 init) and mark it persistent: anyad reconnects to it by itself.',
  description:
    'Answers once the connection is up and the mark is durable. Connecting to a peer already connected only marks it. The handshake fails when the key is not the node key of the node at that address.',
  params: Type.Object(
    {
      address: Type.String({
        minLength: 1,
        maxLength: 400,
        description: '<pubkey>@<host>:<port>, host an IPv4 address, [IPv6] or a name; e.g. 02ab…@127.0.0.1:29736.',
      }),
    },
    { additionalProperties: false },
  ),
  result: PeerT,
  role: 'admin',
  errors: ['InvalidParams', 'BackendUnavailable', 'BackendRejected'],
});

export const peerList = declareMethod({
  name: 'peer.list',
  summary: 'The connected peers and the persistent ones (connected or not).',
  params: NoParams,
  result: Type.Array(PeerT),
  role: 'readonly',
});

export const peerDisconnect = declareMethod({
  name: 'peer.disconnect',
  summary: 'Disconnect a peer and forget it as persistent (no reconnecting).',
  params: Type.Object({ pubkey: Pubkey }, { additionalProperties: false }),
  result: Type.Object({ pubkey: Type.String(), was_connected: Type.Boolean(), was_persistent: Type.Boolean() }),
  role: 'admin',
  errors: ['NotFound'],
});

export const peerSendcustommsg = declareMethod({
  name: 'peer.sendcustommsg',
  summary: "Deliver a message of the app's own odd type to a peer, durably: the peer's anyad raises peer.custommsg once (Core Lightning's sendcustommsg).",
  description:
    'Answers once the message is in the outbox (durable), not once sent: it goes out on every connection to the peer until the peer acknowledges it took it, across restarts of either side, and is taken there exactly once. The peer need not be connected now. The type must be odd (BOLT 1: software that does not know it ignores it) and not one anyad or one of its rooms speaks.',
  params: Type.Object(
    {
      pubkey: Pubkey,
      type: Type.Integer({ minimum: 1, maximum: 65535, description: 'An odd message type, e.g. in the custom range 32768..65535.' }),
      payload: Type.String({
        pattern: '^([0-9a-fA-F]{2})*$',
        maxLength: 131_070,
        description: 'The payload, hex; at most 65,515 bytes (65,535 less the envelope).',
      }),
    },
    { additionalProperties: false },
  ),
  result: Type.Object({
    id: Type.String({ description: '<pubkey>:<seq>' }),
    seq: Type.Integer({ description: 'Its sequence number in the outbox to this peer.' }),
  }),
  role: 'admin',
  errors: ['InvalidParams', 'Busy'],
});

export const peerListcustommsgs = declareMethod({
  name: 'peer.listcustommsgs',
  summary: 'The custom messages peers delivered (peer.custommsg events), from the inbox, after a seq.',
  description: `since is exclusive (0 or absent: from the oldest kept); the inbox keeps the newest ${KEEP}. last_seq is the newest seq.`,
  params: Type.Object(
    {
      since: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'The last seq seen.' })),
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
    },
    { additionalProperties: false },
  ),
  result: Type.Object({ messages: Type.Array(CustomMsgT), last_seq: Type.Integer() }),
  role: 'readonly',
});

export const P2P_METHODS: readonly MethodDeclaration[] = [peerGetinfo, peerConnect, peerList, peerDisconnect, peerSendcustommsg, peerListcustommsgs];
