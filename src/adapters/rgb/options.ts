// Configuration keys of the RGB room. Kept apart from the room so anya-cli and the docs read them without loading it.

import type { OptionGroup } from '../../core/options.js';

export const RGB_OPTIONS: OptionGroup = {
  title: 'RGB (RGB Lightning Node)',
  options: [
    {
      key: 'rgb.url',
      type: 'string',
      default: '',
      maxLength: 300,
      description:
        "RGB Lightning Node's HTTP API, e.g. http://127.0.0.1:3001 (https:// for TLS, checked against Node's CA list plus NODE_EXTRA_CA_CERTS). Empty: the RGB room is off.",
      check: (v) => (v === '' || /^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/.test(v) ? undefined : 'expected http(s)://host:port'),
    },
    {
      key: 'rgb.tokenfile',
      type: 'path',
      description:
        "File holding the node's bearer token (a biscuit token, when the node runs with --root-public-key). Read at each connect, sent only to rgb.url, never logged.",
    },
    {
      key: 'rgb.timeout',
      type: 'int',
      default: 120,
      min: 1,
      max: 3600,
      unit: 'seconds',
      description: 'Timeout of one call to the RGB node (a send or a refresh talks to the RGB proxy and the indexer on top).',
    },
    {
      key: 'rgb.watchinterval',
      type: 'int',
      default: 10_000,
      min: 100,
      max: 600_000,
      unit: 'ms',
      description:
        "How often the node's assets and transfers are looked at for rgb.asset / rgb.transfer events (calls through anyad that change them look at once).",
    },
    {
      key: 'rgb.maxfeerate',
      type: 'int',
      default: 200,
      min: 1,
      max: 100_000,
      unit: 'sat/vB',
      description:
        'Highest fee rate rgb.sendasset and rgb.createutxos accept (the BTC side of an RGB transfer is paid by the node wallet; anyad refuses above this).',
    },
  ],
};
