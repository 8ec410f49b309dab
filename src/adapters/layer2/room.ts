// The Layer2 room: the registry of second-layer adapters and its l2.* methods. Adapter rooms (lightning, ...)
// register through its api.

import { Type } from '@sinclair/typebox';
import type { Room } from '../../core/room.js';
import { defineMethod } from '../../rpc/registry.js';
import { Layer2Registry, type Layer2Adapter } from './contract.js';

export interface Layer2Api {
  register(adapter: Layer2Adapter): void;
}

const AdapterT = Type.Object({ protocol: Type.String(), backend: Type.String() });
const NoParams = Type.Object({}, { additionalProperties: false });

export const layer2Room: Room = {
  name: 'l2',
  create: () => {
    const registry = new Layer2Registry();
    const api: Layer2Api = { register: (a) => registry.add(a) };
    return {
      api,
      methods: [
        defineMethod({
          name: 'l2.list',
          summary: 'The second-layer adapters configured, with a state summary of each.',
          params: NoParams,
          result: Type.Array(Type.Object({ protocol: Type.String(), backend: Type.String(), state: Type.String(), summary: Type.Record(Type.String(), Type.Unknown()) })),
          role: 'readonly',
          handler: () =>
            Promise.all(registry.list().map(async (a) => ({ protocol: a.protocol, backend: a.backend, state: a.health().state, summary: await a.summary().catch((err: Error) => ({ error: err.message })) }))),
        }),
        defineMethod({
          name: 'l2.health',
          summary: 'The health of every second-layer adapter.',
          params: NoParams,
          result: Type.Array(Type.Intersect([AdapterT, Type.Object({ state: Type.String(), detail: Type.String(), since: Type.String() })])),
          role: 'readonly',
          handler: () => registry.list().map((a) => ({ protocol: a.protocol, backend: a.backend, ...a.health() })),
        }),
        defineMethod({
          name: 'l2.capabilities',
          summary: 'What each second-layer adapter can do; anything not listed it refuses.',
          params: NoParams,
          result: Type.Array(Type.Intersect([AdapterT, Type.Object({ capabilities: Type.Array(Type.String()) })])),
          role: 'readonly',
          handler: () => registry.list().map((a) => ({ protocol: a.protocol, backend: a.backend, capabilities: a.capabilities() })),
        }),
      ],
    };
  },
};
