// The p2p room's methods, as data (Core Lightning's connect / listpeers / disconnect and LND's ConnectPeer as the
// anchor): this node's identity and listener, connecting to a peer by <pubkey>@<host>:<port>, the peers, and
// disconnecting one.

import { Type } from '@sinclair/typebox';
import { declareMethod, NoParams, type MethodDeclaration } from '../core/methods.js';

const Pubkey = Type.String({ pattern: '^0[23][0-9a-fA-F]{64}$', description: 'A node key: 66 hex characters (compressed secp256k1 point).' });

export const PeerT = Type.Object({
  pubkey: Type.String(),
  address: Type.String({ description: 'host:port of the connection, or where a persistent peer is dialed.' }),
  direction: Type.Union([Type.Literal('inbound'), Type.Literal('outbound'), Type.Null()], { description: 'null while not connected.' }),
  connected: Type.Boolean(),
  persistent: Type.Boolean({ description: 'Marked by peer.connect: reconnected by anyad, with backoff, whenever it is lost.' }),
  since: Type.Union([Type.String(), Type.Null()], { description: 'When the connection was made (ISO time).' }),
  features: Type.Array(Type.Integer(), { description: "The feature bits of the peer's init." }),
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

export const P2P_METHODS: readonly MethodDeclaration[] = [peerGetinfo, peerConnect, peerList, peerDisconnect];
