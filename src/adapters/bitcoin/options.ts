// Configuration keys of the bitcoin room (the connection to Bitcoin Core).

import { join } from 'node:path';
import { homedir } from 'node:os';
import type { Network, OptionGroup } from '../../core/options.js';

const RPC_PORT: Record<Network, number> = { main: 8332, test: 18332, signet: 38332, regtest: 18443 };
const COOKIE_SUBDIR: Record<Network, string> = { main: '', test: 'testnet3', signet: 'signet', regtest: 'regtest' };

const zmqCheck = (v: string): string | undefined => (/^(tcp:\/\/[^\s]+:\d+|ipc:\/\/\/[^\s]+)$/.test(v) ? undefined : 'expected tcp://host:port or ipc:///path');

export const BITCOIN_OPTIONS: OptionGroup = {
  title: 'Bitcoin Core connection',
  options: [
    {
      key: 'embeddedchain',
      type: 'bool',
      default: true,
      description:
        'On regtest only, with no bitcoind.rpcconnect, rpcport, rpccookiefile or rpcuser set: run a regtest full node (bcoin) as a child process, its chain under <datadir>/regtest/chain, and connect to it. -noembeddedchain turns it off.',
    },
    {
      key: 'bitcoind.enable',
      type: 'bool',
      default: true,
      description: 'Connect to Bitcoin Core. anyad runs on without it; health says why it is not connected.',
    },
    {
      key: 'bitcoind.rpcconnect',
      type: 'string',
      default: '127.0.0.1',
      description: "Host of bitcoind's RPC.",
      check: (v) => (/^[A-Za-z0-9.:[\]-]+$/.test(v) ? undefined : 'expected a host name or address'),
    },
    { key: 'bitcoind.rpcport', type: 'int', default: (n) => RPC_PORT[n], min: 1, max: 65535, description: "Port of bitcoind's RPC." },
    {
      key: 'bitcoind.rpccookiefile',
      type: 'path',
      default: (n) => join(homedir(), '.bitcoin', COOKIE_SUBDIR[n], '.cookie'),
      defaultText: '~/.bitcoin[/testnet3|/signet|/regtest]/.cookie',
      description: "bitcoind's cookie file, re-read when bitcoind answers 401 (it writes a new one at each start). Used unless bitcoind.rpcuser is set.",
    },
    { key: 'bitcoind.rpcuser', type: 'string', description: 'RPC user (rpcauth) instead of the cookie; the password comes from bitcoind.rpcpasswordfile.' },
    {
      key: 'bitcoind.rpcpasswordfile',
      type: 'path',
      description: 'File (or systemd credential path) holding the RPC password for bitcoind.rpcuser. Passwords are never written in anya.conf.',
    },
    {
      key: 'bitcoind.zmqpubhashblock',
      type: 'string',
      description: "bitcoind's zmqpubhashblock endpoint (e.g. tcp://127.0.0.1:28332): new blocks are seen at once instead of at the next poll.",
      check: zmqCheck,
    },
    {
      key: 'bitcoind.zmqpubrawtx',
      type: 'string',
      description: "bitcoind's zmqpubrawtx endpoint: watched transactions entering the mempool are seen at once.",
      check: zmqCheck,
    },
    {
      key: 'bitcoind.zmqpubsequence',
      type: 'string',
      description: "bitcoind's zmqpubsequence endpoint: any chain or mempool change triggers a look at once.",
      check: zmqCheck,
    },
    { key: 'bitcoind.timeout', type: 'int', default: 30, min: 1, max: 3600, unit: 'seconds', description: 'Timeout of one RPC request to bitcoind.' },
    {
      key: 'bitcoind.maxconcurrency',
      type: 'int',
      default: 4,
      min: 1,
      max: 64,
      description: 'Most RPC requests to bitcoind in flight at once; more wait in a bounded queue.',
    },
    {
      key: 'bitcoind.pollinterval',
      type: 'int',
      default: 1000,
      min: 50,
      max: 600000,
      unit: 'ms',
      description: 'How often the chain tip and mempool are polled.',
    },
    {
      key: 'bitcoind.reorgwindow',
      type: 'int',
      default: 1000,
      min: 6,
      max: 100000,
      unit: 'blocks',
      description:
        "How many recent block hashes the chain watcher keeps to find a reorg's fork point. A deeper reorg resyncs from the oldest block kept (chain.resync event) and reports those blocks again.",
    },
    {
      key: 'bitcoind.stalltimeout',
      type: 'int',
      default: 60,
      min: 1,
      max: 86400,
      unit: 'seconds',
      description: 'When the node is ahead of the chain watcher and the watcher has not moved for this long, health says degraded (and the log says why).',
    },
    {
      key: 'bitcoind.confirmations',
      type: 'int',
      default: 6,
      min: 1,
      max: 1000,
      description: 'Depth at which a watched transaction is reported as deeply confirmed (chain.tx status "deep").',
    },
  ],
};
