// The Lightning room: the Core Lightning backend behind the Layer2 contract, its ln.* methods and events.
// (LND through ln-service is not in this build.)

import { homedir } from 'node:os';
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import type { Network, OptionGroup } from '../../core/options.js';
import type { Room } from '../../core/room.js';
import type { Layer2Api } from '../layer2/room.js';
import { ClnBackend } from './cln.js';
import { ClnClient } from './cln-client.js';
import { lnMethods } from './methods.js';

const CLN_DIR: Record<Network, string> = { main: 'bitcoin', test: 'testnet', signet: 'signet', regtest: 'regtest' };

export const LIGHTNING_OPTIONS: OptionGroup = {
  title: 'Lightning (Core Lightning)',
  options: [
    { key: 'cln.enable', type: 'bool', default: false, description: 'Connect to Core Lightning.' },
    { key: 'cln.rpcfile', type: 'path', default: (n) => join(homedir(), '.lightning', CLN_DIR[n], 'lightning-rpc'), defaultText: '~/.lightning/<network>/lightning-rpc', description: 'lightningd\'s JSON-RPC socket.' },
    { key: 'cln.timeout', type: 'int', default: 120, min: 1, max: 3600, unit: 'seconds', description: 'Timeout of one call to lightningd (pay waits up to its own timeout on top).' },
  ],
};

export const lightningRoom: Room = {
  name: 'lightning',
  options: LIGHTNING_OPTIONS,
  topics: [
    { name: 'ln.invoice', summary: 'An invoice was created or settled (settled events are reported exactly once, across restarts).', data: Type.Object({ backend: Type.String(), status: Type.String(), payment_hash: Type.String() }, { additionalProperties: true }) },
    { name: 'ln.payment', summary: 'A payment made through anyad succeeded or failed.', data: Type.Object({ backend: Type.String(), status: Type.String(), payment_hash: Type.String() }, { additionalProperties: true }) },
    { name: 'ln.channel', summary: 'A channel opened through anyad is pending, or one was closed.', data: Type.Object({ backend: Type.String(), status: Type.String() }, { additionalProperties: true }) },
    { name: 'ln.peer', summary: 'A peer was connected through anyad.', data: Type.Object({ backend: Type.String(), status: Type.String(), id: Type.String() }) },
  ],
  create: async ({ config, store, bus, log, use }) => {
    if (!config.bool('cln.enable')) return {};
    const db = await store.room('lightning');
    const client = new ClnClient(config.path('cln.rpcfile')!, config.int('cln.timeout') * 1000);
    const cln = new ClnBackend(client, db, store, bus, config.network, log);
    use<Layer2Api>('l2')?.register(cln);
    return { service: cln, methods: lnMethods(cln, bus) };
  },
};
