// The HSM room: key custody behind one provider, with policy and audit. Off unless hsm.provider is set.

import type { Room } from '../core/room.js';
import { bitcoinNetwork } from '../core/bitcoin-network.js';
import { checkHsmConfig } from './factory.js';
import { hsmMethods } from './methods.js';
import { HSM_OPTIONS } from './options.js';
import { HsmService } from './service.js';

export const hsmRoom: Room = {
  name: 'hsm',
  options: HSM_OPTIONS,
  create: async ({ config, store, log }) => {
    const kinds = checkHsmConfig(config);
    if (kinds.length === 0) return {};
    const db = await store.room('hsm');
    const network = bitcoinNetwork(config.network);
    const service = new HsmService(kinds, config, db, store, network, log);
    return { service, methods: hsmMethods(service, network, config.int('hsm.unlocktimeout')) };
  },
};
