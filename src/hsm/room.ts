// The HSM room: key custody behind one provider, with policy and audit. Off unless hsm.provider is set.

import { Type } from '@sinclair/typebox';
import type { Room } from '../core/room.js';
import { bitcoinNetwork } from '../core/bitcoin-network.js';
import { HSM_OPTIONS } from './options.js';
import { PolicySchema, type Veto } from './policy.js';

/** What other rooms may use of the HSM: a veto on signatures. */
export interface HsmApi {
  addVeto(name: string, veto: Veto): void;
}

export const hsmRoom: Room = {
  name: 'hsm',
  options: HSM_OPTIONS,
  topics: [
    {
      name: 'hsm.policy',
      summary: 'A signing policy changed: applied (at once), pending (a loosening waiting for hsm.policydelay), effective (the wait is over) or cancelled.',
      data: Type.Object({
        subject: Type.String(),
        state: Type.String(),
        policy: Type.Union([PolicySchema, Type.Null()], { description: 'The policy this change is about (null: none).' }),
        effective_at: Type.Optional(Type.String()),
        loosens: Type.Optional(Type.Array(Type.String())),
        interim: Type.Optional(Type.Union([PolicySchema, Type.Null()], { description: 'The policy in force while a loosening waits.' })),
      }),
    },
  ],
  // The encrypted keystore goes into every backup. The audit head file does not: it must outlive a restore, so the
  // rollback shows.
  stateFiles: (config) => (config.list('hsm.provider').includes('software') ? [{ name: 'hsm.keystore', path: config.path('hsm.keystore')! }] : []),
  create: async ({ config, store, log, bus }) => {
    if (config.list('hsm.provider').length === 0) return {};
    // Loaded only when the room is on (the curve, HD-key and PKCS#11 code).
    const [{ checkHsmConfig }, { hsmMethods }, { HsmService }] = await Promise.all([import('./factory.js'), import('./methods.js'), import('./service.js')]);
    const kinds = checkHsmConfig(config);
    const db = await store.room('hsm');
    const network = bitcoinNetwork(config.network);
    const service = new HsmService(kinds, config, db, store, network, log, bus, {
      policyDelaySec: config.int('hsm.policydelay'),
      changeGroup: config.str('hsm.changegroup') || undefined,
    });
    const api: HsmApi = { addVeto: (name, veto) => service.addVeto(name, veto) };
    return { service, methods: hsmMethods(service, network, config.int('hsm.unlocktimeout')), api };
  },
};
