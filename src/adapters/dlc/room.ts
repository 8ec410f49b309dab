// The DLC room: Discreet Log Contracts as the dlcspecs define them (enumerated or numeric outcomes, one oracle or a
// threshold of several), with keys and funding through the HSM room and the chain through the bitcoin room, every
// counterparty message checked (rules.ts) under the bounds of its config keys, the heavy work in worker threads
// (worker.ts). On when both rooms are; none of its code loads before then.

import type { Room } from '../../core/room.js';
import { BITCOIN } from '../bitcoin/api.js';
import { HSM } from '../../hsm/api.js';
import { L2 } from '../layer2/api.js';
import { WALLET } from '../../wallet/api.js';
import { P2P } from '../../p2p/api.js';
import { DLC_METHODS } from './declarations.js';
import { DLC_OPTIONS } from './options.js';
import { DLC_TOPICS } from './topics.js';

export const dlcRoom: Room = {
  name: 'dlc',
  requires: [HSM, BITCOIN, L2, WALLET, P2P],
  methods: DLC_METHODS,
  options: DLC_OPTIONS,
  topics: DLC_TOPICS,
  create: async ({ config, store, bus, log, use }) => {
    const hsm = use(HSM);
    const chain = use(BITCOIN);
    const wallet = use(WALLET);
    const p2p = use(P2P);
    if (!config.bool('dlc.enable') || !hsm || !chain) return {};
    const [{ DlcService }, { dlcMethods }, { OracleClient }, { dlcL2Adapter }] = await Promise.all([
      import('./service.js'),
      import('./methods.js'),
      import('./oracle-client.js'),
      import('./l2-adapter.js'),
    ]);
    const db = await store.room('dlc');
    // Which curve library signs and checks adaptor signatures: the wasm libsecp256k1 is ~10× the JavaScript fallback.
    const { curve } = await import('../../core/ecdsa-adaptor-curve.js');
    log.info({ room: 'dlc', curve: curve().name }, 'DLC adaptor signatures on this curve library');
    const oracles = config.list('dlc.oracle').map((url) => new OracleClient(url));
    const svc = new DlcService({
      db,
      store,
      bus,
      hsm,
      chain,
      // The wallet room, when on, funds a contract offered or accepted without utxos (wallet-funding.ts).
      ...(wallet ? { wallet } : {}),
      // The peer network, when on: dlc.offer peer= and the messages taken from peers (peer-wire.ts, inbox.ts).
      ...(p2p ? { p2p } : {}),
      network: config.network,
      log: log.child({ room: 'dlc' }),
      autorefund: config.bool('dlc.autorefund'),
      autoclose: config.bool('dlc.autoclose'),
      oracles,
      bounds: {
        limits: {
          maxOutcomes: config.int('dlc.maxoutcomes'),
          maxCets: config.int('dlc.maxcets'),
          maxPayoutPoints: config.int('dlc.maxpayoutpoints'),
          maxOracles: config.int('dlc.maxoracles'),
          maxOracleCombinations: config.int('dlc.maxoraclecombinations'),
        },
        maxFeeRate: config.int('dlc.maxfeerate'),
        minRefundDelay: config.int('dlc.minrefunddelay'),
        maxRefundDelay: config.int('dlc.maxrefunddelay'),
        workerTimeout: config.int('dlc.workertimeout'),
        workers: config.int('dlc.workers'),
      },
    });
    // Coins promised to a contract (dlc:<id>) whose record a crash kept from being written are given back at start.
    wallet?.adoptHolders('dlc:', async (holder) => (await db.get(`c:${holder.slice(4)}`)) !== undefined);
    // Also reachable through l2.* (protocol "dlc").
    use(L2)?.register(dlcL2Adapter(svc));
    return { service: svc, methods: dlcMethods(svc) };
  },
};
