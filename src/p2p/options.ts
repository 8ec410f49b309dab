// Configuration keys of the p2p room: where anyad listens for peers and the limits every peer is held to.

import { isIP } from 'node:net';
import type { Network, OptionGroup } from '../core/options.js';

/**
 * One above Lightning's 9735, so anyad listens beside the Lightning node it accompanies on the same host; one port
 * per network (as rpcport), so the daemons of several networks run side by side.
 */
const DEFAULT_PORT: Record<Network, number> = { main: 9736, test: 19736, signet: 39736, regtest: 29736 };

export const P2P_OPTIONS: OptionGroup = {
  title: 'Peer network (BOLT 8 + BOLT 1 between anyads)',
  options: [
    {
      key: 'p2p.enable',
      type: 'bool',
      default: true,
      description:
        'Run the peer network when the HSM room holds a node key: listen on p2p.peerbind:p2p.peerport (loopback unless configured, like the WebSocket) and reach the peers of peer.connect.',
    },
    {
      key: 'p2p.peerbind',
      type: 'string',
      default: '127.0.0.1',
      description: 'Address the peer listener binds to; 0.0.0.0 or :: to take peers from other hosts.',
      check: (v) => (isIP(v) || v === 'localhost' ? undefined : 'expected an IP address'),
    },
    {
      key: 'p2p.peerport',
      type: 'int',
      default: (n) => DEFAULT_PORT[n],
      defaultText: 'main 9736, test 19736, signet 39736, regtest 29736',
      min: 0,
      max: 65535,
      description: 'Port the peer listener binds to; 0 picks a free port (peer.getinfo and the log say which).',
    },
    { key: 'p2p.listen', type: 'bool', default: true, description: 'Take connections from peers; without it anyad only dials (peer.connect).' },
    {
      key: 'p2p.maxpeers',
      type: 'int',
      default: 64,
      min: 1,
      max: 10_000,
      description: 'Most connected peers (both directions); a peer past it is told so and disconnected.',
    },
    {
      key: 'p2p.maxpending',
      type: 'int',
      default: 16,
      min: 1,
      max: 1000,
      description:
        'Most inbound connections still in their handshake, in a pool of their own: when it is full the oldest is dropped for the newest, so strangers holding sockets open never keep a peer out.',
    },
    {
      key: 'p2p.handshaketimeout',
      type: 'int',
      default: 10,
      min: 1,
      max: 600,
      unit: 'seconds',
      description: 'Time a connection has for the BOLT 8 handshake and the init exchange.',
    },
    {
      key: 'p2p.maxqueuedbytes',
      type: 'int',
      default: 4_194_304,
      min: 65_536,
      max: 1_073_741_824,
      unit: 'bytes',
      description: 'Bytes of messages that may wait to be written to one peer; a send past it is refused (the peer does not read).',
    },
    {
      key: 'p2p.maxoutboxbytes',
      type: 'int',
      default: 16_777_216,
      min: 65_536,
      max: 1_073_741_824,
      unit: 'bytes',
      description:
        'Payload bytes of durable messages (peer.sendcustommsg, DLC, channels) that may wait in the outbox to one peer for its acknowledgement; a message past it is refused (Busy) until the peer takes what waits. The outbox is kept in memory too.',
    },
    {
      key: 'p2p.maxoutboxpeers',
      type: 'int',
      default: 1024,
      min: 1,
      max: 1_000_000,
      description:
        'Peers that may have durable messages waiting for their acknowledgement at once; a message to one more is refused (Busy) until one of them takes its own. With p2p.maxoutboxbytes it bounds the memory the outboxes hold.',
    },
    {
      key: 'p2p.resendinterval',
      type: 'int',
      default: 30,
      min: 1,
      max: 3600,
      unit: 'seconds',
      description:
        'Durable messages a connected peer has not acknowledged for this long are sent again from the oldest on the same connection (a peer whose room failed to take one retries it); a reconnection resends them at once.',
    },
    {
      key: 'p2p.maxmsgrate',
      type: 'int',
      default: 1000,
      min: 1,
      max: 1_000_000,
      unit: 'messages/s',
      description: 'Messages a peer may send per second (averaged over 10 s); a peer that keeps above it is disconnected.',
    },
    {
      key: 'p2p.pinginterval',
      type: 'int',
      default: 30,
      min: 1,
      max: 3600,
      unit: 'seconds',
      description: 'A ping (BOLT 1) is sent to a quiet peer this often; a peer that does not answer within the same time is disconnected.',
    },
  ],
};
