// The RGB room: RGB Lightning Node behind anyad's API (rgb.*), the Layer2 contract (l2.* with protocol rgb) and the
// rgb.* events. Off unless rgb.url is set; then none of its code loads before it is needed. RGB validation
// (consignments, the client-side-validated state) is the node's job; anyad adds one API, exact events, records with
// labels and the checks before anything reaches the node.

import { RGB_METHODS } from './declarations.js';
import type { Room } from '../../core/room.js';
import { L2 } from '../layer2/api.js';
import { RGB_OPTIONS } from './options.js';
import { RGB_TOPICS } from './topics.js';

export const rgbRoom: Room = {
  name: 'rgb',
  requires: [L2],
  methods: RGB_METHODS,
  options: RGB_OPTIONS,
  topics: RGB_TOPICS,
  create: async ({ config, store, bus, log, use }) => {
    const url = config.str('rgb.url');
    if (!url) return {};
    const [{ RgbClient }, { RgbRecords }, { RgbService }, { rgbMethods }, { RgbAdapter }] = await Promise.all([
      import('./client.js'),
      import('./records.js'),
      import('./service.js'),
      import('./methods.js'),
      import('./adapter.js'),
    ]);
    const db = await store.room('rgb');
    const client = new RgbClient({ url, tokenFile: config.path('rgb.tokenfile'), timeoutMs: config.int('rgb.timeout') * 1000 });
    const svc = new RgbService({
      client,
      records: new RgbRecords(db, store, bus),
      network: config.network,
      intervalMs: config.int('rgb.watchinterval'),
      log: log.child({ room: 'rgb' }),
    });
    const maxFeeRate = config.int('rgb.maxfeerate');
    const adapter = new RgbAdapter(svc, maxFeeRate);
    use(L2)?.register(adapter);
    return { services: [adapter], methods: rgbMethods(svc, maxFeeRate) };
  },
};
