// The p2p room: anyads reach each other over the Lightning transport (BOLT 8 handshake and encryption, BOLT 1
// messages), known by a node key the HSM room holds. On when the HSM room is on and has a node key (the software
// keystore); other rooms (DLC, state channels) send and take messages through its api.

import type { Room } from '../core/room.js';
import { HSM } from '../hsm/api.js';
import type { P2pApi } from './api.js';
import { P2P_METHODS } from './declarations.js';
import { P2P_OPTIONS } from './options.js';
import { P2P_TOPICS } from './topics.js';

export const p2pRoom: Room = {
  name: 'p2p',
  requires: [HSM],
  options: P2P_OPTIONS,
  methods: P2P_METHODS,
  topics: P2P_TOPICS,
  create: async ({ config, store, bus, log, use }) => {
    const hsm = use(HSM);
    if (!config.bool('p2p.enable') || !hsm) return {};
    const refusal = hsm.nodeKeyRefusal();
    if (refusal) {
      log.warn({ reason: refusal }, 'peer network off');
      return {};
    }
    // Loaded only when the room is on (the transport, its ciphers).
    const [{ P2pService }, { p2pMethods }, { PeerBook }, { CHAIN_HASH }] = await Promise.all([
      import('./service.js'),
      import('./methods.js'),
      import('./peers.js'),
      import('./wire.js'),
    ]);
    const db = await store.room('p2p');
    const service = new P2pService({
      settings: {
        host: config.str('p2p.peerbind')!,
        port: config.int('p2p.peerport'),
        listen: config.bool('p2p.listen'),
        maxPeers: config.int('p2p.maxpeers'),
        maxPending: config.int('p2p.maxpending'),
        handshakeTimeoutMs: config.int('p2p.handshaketimeout') * 1000,
        maxQueuedBytes: config.int('p2p.maxqueuedbytes'),
        maxMsgRate: config.int('p2p.maxmsgrate'),
        pingIntervalMs: config.int('p2p.pinginterval') * 1000,
        chainHash: Buffer.from(CHAIN_HASH[config.network]!, 'hex'),
        maxOutboxBytes: config.int('p2p.maxoutboxbytes'),
        maxOutboxPeers: config.int('p2p.maxoutboxpeers'),
        resendIntervalMs: config.int('p2p.resendinterval') * 1000,
      },
      hsm,
      book: new PeerBook(db, store),
      db,
      store,
      bus,
      log,
    });
    const api: P2pApi = service.api();
    const info = (): Record<string, unknown> => {
      const i = service.info();
      return { node_id: i.pubkey, listening: i.listening, peers: i.peers };
    };
    return { service, methods: p2pMethods(service), api, info };
  },
};
