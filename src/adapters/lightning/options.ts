// Configuration keys of the lightning room. Kept apart from the room so anya-cli reads them without loading it.

import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Network, OptionGroup } from '../../core/options.js';

const CLN_DIR: Record<Network, string> = { main: 'bitcoin', test: 'testnet', signet: 'signet', regtest: 'regtest' };
const LND_DIR: Record<Network, string> = { main: 'mainnet', test: 'testnet', signet: 'signet', regtest: 'regtest' };

export const LIGHTNING_OPTIONS: OptionGroup = {
  title: 'Lightning (Core Lightning, LND, embedded LDK)',
  options: [
    { key: 'cln.enable', type: 'bool', default: false, description: 'Connect to Core Lightning.' },
    {
      key: 'cln.rpcfile',
      type: 'path',
      default: (n) => join(homedir(), '.lightning', CLN_DIR[n], 'lightning-rpc'),
      defaultText: '~/.lightning/<network>/lightning-rpc',
      description: "lightningd's JSON-RPC socket.",
    },
    {
      key: 'cln.timeout',
      type: 'int',
      default: 120,
      min: 1,
      max: 3600,
      unit: 'seconds',
      description: 'Timeout of one call to lightningd (pay waits up to its own timeout on top).',
    },
    { key: 'lnd.enable', type: 'bool', default: false, description: 'Connect to LND (gRPC, through ln-service).' },
    {
      key: 'lnd.socket',
      type: 'string',
      default: 'localhost:10009',
      maxLength: 300,
      description: "LND's gRPC address, host:port. Use the host name in LND's certificate (localhost for a local LND).",
      check: (v) => (/^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(v) ? undefined : 'expected host:port'),
    },
    {
      key: 'lnd.tlscertpath',
      type: 'path',
      default: () => join(homedir(), '.lnd', 'tls.cert'),
      defaultText: '~/.lnd/tls.cert',
      description: "LND's TLS certificate.",
    },
    {
      key: 'lnd.macaroonpath',
      type: 'path',
      default: (n) => join(homedir(), '.lnd', 'data', 'chain', 'bitcoin', LND_DIR[n], 'admin.macaroon'),
      defaultText: '~/.lnd/data/chain/bitcoin/<network>/admin.macaroon',
      description:
        'The macaroon anyad presents (admin.macaroon for every ln.* method; a read-only one limits anyad to reading). Read at each connect, never logged.',
    },
    {
      key: 'lnd.timeout',
      type: 'int',
      default: 120,
      min: 1,
      max: 3600,
      unit: 'seconds',
      description: 'Timeout of one call to LND (pay waits up to its own timeout on top).',
    },
    {
      key: 'ldk.enable',
      type: 'bool',
      default: false,
      description:
        'Run an embedded Lightning node (LDK) inside anyad: keys from the keystore seed (not a PKCS#11 token), the chain from the bitcoin room, funds from the wallet. Left unset on regtest, it runs when neither cln.enable nor lnd.enable is set and the keystore has a seed (the 0 here holds on other networks); -noldk.enable turns it off.',
    },
    {
      key: 'ldk.host',
      type: 'string',
      default: '127.0.0.1',
      maxLength: 255,
      description: 'The address the embedded node accepts peers on (loopback by default: set it to be reachable).',
    },
    { key: 'ldk.port', type: 'int', default: 9735, min: 0, max: 65535, description: 'The port the embedded node accepts peers on (0: any free port).' },
    {
      key: 'ldk.fallbackfee',
      type: 'int',
      default: 1000,
      min: 253,
      max: 1_000_000,
      unit: 'sat/kw',
      description: 'The fee rate the embedded node uses while the chain node gives no estimate (bcoin has none), in sat per 1000 weight units.',
    },
    {
      key: 'ln.watchinterval',
      type: 'int',
      default: 5000,
      min: 100,
      max: 600_000,
      unit: 'ms',
      description:
        "How often each node's channels and peers are looked at for ln.channel / ln.peer events (calls through anyad that change them look at once).",
    },
    {
      key: 'ln.default',
      type: 'enum',
      values: ['auto', 'cln', 'lnd', 'ldk'],
      default: 'auto',
      description: 'The backend ln.* calls use when both are configured and a call names none (auto: such a call must name one).',
    },
  ],
};
