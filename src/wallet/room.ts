// The wallet room: the coins of the keystore's seed (BIP84 and BIP86 accounts), followed through the bitcoin room's
// watcher, spent through the HSM's signing policy, and one coin service (reservations) for every room. On when the
// HSM room has a software keystore and the bitcoin room is on; a PKCS#11 token has no seed to derive accounts from.

import type { Room } from '../core/room.js';
import { BITCOIN } from '../adapters/bitcoin/api.js';
import { bitcoinNetwork } from '../core/bitcoin-network.js';
import { HSM } from '../hsm/api.js';
import type { WalletApi } from './api.js';
import { WALLET_METHODS } from './declarations.js';
import { WALLET_OPTIONS } from './options.js';
import { WALLET_TOPICS } from './topics.js';

export const walletRoom: Room = {
  name: 'wallet',
  requires: [HSM, BITCOIN],
  options: WALLET_OPTIONS,
  methods: WALLET_METHODS,
  topics: WALLET_TOPICS,
  create: async ({ config, store, bus, log, use }) => {
    const hsm = use(HSM);
    const chain = use(BITCOIN);
    if (!config.bool('wallet.enable') || !hsm || !chain) return {};
    if (hsm.walletRefusal()) {
      log.info({ reason: hsm.walletRefusal() }, 'wallet off');
      return {};
    }
    const [{ WalletService }, { walletMethods }, funding] = await Promise.all([import('./service.js'), import('./methods.js'), import('./funding.js')]);
    const db = await store.room('wallet');
    const service = new WalletService({
      db,
      store,
      bus,
      log,
      chain,
      hsm,
      network: bitcoinNetwork(config.network),
      gapLimit: config.int('wallet.gaplimit'),
      maxFeeSat: config.int('wallet.maxtxfee'),
      fallbackFeeRate: config.int('wallet.fallbackfee'),
      reserveMs: config.int('wallet.reservetime') * 1000,
      eventLogSize: config.int('wallet.eventlog'),
    });
    const api: WalletApi = {
      reserveCoins: async (req) => {
        const r = await funding.reserveCoins(service, req);
        try {
          const details = await funding.inputDetails(service, r.coins);
          return {
            coins: r.coins.map((c, i) => ({ txid: c.txid, vout: c.vout, amount_sat: c.value_sat, script: c.script, ...details[i]! })),
            change_address: r.change.address,
          };
        } catch (err) {
          await service.release(undefined, req.holder); // promised coins the holder never heard of are given back
          throw err;
        }
      },
      reserveOutpoints: (req) => funding.reserveOutpoints(service, req),
      releaseCoins: async (holder) => void (await service.release(undefined, holder)),
      newAddress: async () => (await service.newAddress('wpkh', 0)).address,
      adoptHolders: (prefix, exists) =>
        void service.sweepOrphans(prefix, exists).catch((err: Error) => log.warn({ prefix, err: err.message }, 'the orphaned promises were not swept')),
    };
    return { service, methods: walletMethods(service), api };
  },
};
