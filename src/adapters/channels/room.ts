// The state channels room: two-party channels with signed, numbered states (BOLT 3 commitments carrying app data),
// keys through the HSM room, the chain through the bitcoin room, and anyad as its own watchtower. On when both are;
// none of its code loads before then. Other rooms may add a rule every state must pass (api.addRule).

import type { Room } from '../../core/room.js';
import { BITCOIN } from '../bitcoin/api.js';
import { HSM } from '../../hsm/api.js';
import { L2 } from '../layer2/api.js';
import { WALLET } from '../../wallet/api.js';
import { P2P } from '../../p2p/api.js';
import { SC_METHODS } from './declarations.js';
import { SC_OPTIONS } from './options.js';
import { SC_TOPICS } from './topics.js';

export const channelsRoom: Room = {
  name: 'channels',
  requires: [HSM, BITCOIN, L2, WALLET, P2P],
  methods: SC_METHODS,
  options: SC_OPTIONS,
  topics: SC_TOPICS,
  create: async ({ config, store, bus, log, use }) => {
    const hsm = use(HSM);
    const chain = use(BITCOIN);
    const wallet = use(WALLET);
    const p2p = use(P2P);
    if (!config.bool('sc.enable') || !hsm || !chain) return {};
    const [{ ChannelService }, { scMethods }, { channelsL2Adapter }] = await Promise.all([
      import('./service.js'),
      import('./methods.js'),
      import('./l2-adapter.js'),
    ]);
    const db = await store.room('channels');
    const svc = new ChannelService({
      db,
      store,
      bus,
      hsm,
      chain,
      // The wallet room, when on, funds a channel opened without utxos (wallet-funding.ts).
      ...(wallet ? { wallet } : {}),
      // The peer network, when on: channels opened with peer= run over it (peering.ts); off, those features say so.
      ...(p2p ? { p2p } : {}),
      network: config.network,
      log: log.child({ room: 'channels' }),
      policy: {
        justice: config.bool('sc.justice'),
        acceptDelay: config.int('sc.toselfdelay'),
        minDelay: config.int('sc.mintoselfdelay'),
        maxDelay: config.int('sc.maxtoselfdelay'),
        autopayMaxSat: BigInt(config.int('sc.autopaymaxsat')),
      },
    });
    // Coins promised to a channel (sc:<id>) whose record a crash kept from being written are given back at start.
    wallet?.adoptHolders('sc:', async (holder) => (await db.get(`c:${holder.slice(3)}`)) !== undefined);
    // Also reachable through l2.* (protocol "statechannel").
    use(L2)?.register(channelsL2Adapter(svc));
    return { service: svc, methods: scMethods(svc), api: { addRule: svc.addRule.bind(svc) } };
  },
};
