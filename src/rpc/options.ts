// Configuration keys of the RPC room: transports, credentials, and the limits on every input.

import { isIP } from 'node:net';
import type { Network, OptionGroup } from '../core/options.js';
import { checkRpcAuth } from './auth.js';

const DEFAULT_PORT: Record<Network, number> = { main: 8433, test: 18433, signet: 38433, regtest: 18533 };

export const RPC_OPTIONS: OptionGroup = {
  title: 'RPC server',
  options: [
    {
      key: 'rpcsocket',
      type: 'path',
      default: 'anya.sock',
      description: 'Unix socket for JSON-RPC (newline-delimited); relative to the network directory. Empty disables it.',
    },
    {
      key: 'rpcsocketmode',
      type: 'string',
      default: '0660',
      description: "File mode of the Unix socket, octal. Its group may call every method: add trusted users to anyad's group.",
      check: (v) => (/^0?[0-7]{3}$/.test(v) && (parseInt(v, 8) & 0o007) === 0 ? undefined : 'expected an octal mode like 0660 with no access for others'),
    },
    { key: 'rpcws', type: 'bool', default: true, description: 'Serve JSON-RPC over WebSocket on rpcbind:rpcport.' },
    {
      key: 'rpcbind',
      type: 'string',
      default: '127.0.0.1',
      description: 'Address the WebSocket listens on. A non-loopback address needs rpctlscert/rpctlskey or rpcallowinsecure=1.',
      check: (v) => (isIP(v) || v === 'localhost' ? undefined : 'expected an IP address'),
    },
    {
      key: 'rpcport',
      type: 'int',
      default: (n) => DEFAULT_PORT[n],
      min: 0,
      max: 65535,
      description: 'WebSocket port; 0 picks a free port (reported in the log and by getinfo).',
    },
    {
      key: 'rpccookiefile',
      type: 'path',
      default: '.cookie',
      description: 'Where the cookie (a fresh random admin token) is written at each start; removed at stop.',
    },
    {
      key: 'rpcauth',
      type: 'list',
      description: 'A WebSocket user: <user>:<salt>$<hmac>:<role>, role readonly, user or admin. Make one with `node dist/tools/rpcauth.js <user> <role>`.',
      check: checkRpcAuth,
    },
    {
      key: 'rpcallowedorigin',
      type: 'list',
      description:
        'A browser Origin (e.g. http://localhost:3000) allowed to open the WebSocket. Requests with another Origin are refused; clients that send no Origin are not browsers and are allowed.',
      check: (v) => (/^https?:\/\/[^/\s]+$/.test(v) ? undefined : 'expected scheme://host[:port] with no path'),
    },
    { key: 'rpctlscert', type: 'path', description: 'PEM certificate for the WebSocket (wss://).' },
    { key: 'rpctlskey', type: 'path', description: 'PEM private key for rpctlscert.' },
    {
      key: 'rpcallowinsecure',
      type: 'bool',
      default: false,
      description: 'Allow rpcbind on a non-loopback address without TLS. Credentials then cross the network in clear.',
    },
    { key: 'rpcmaxmessagesize', type: 'int', default: 1048576, min: 1024, max: 67108864, unit: 'bytes', description: 'Largest request message accepted.' },
    {
      key: 'rpcmaxconnections',
      type: 'int',
      default: 64,
      min: 1,
      max: 10000,
      description: 'Most open authenticated RPC connections (both transports together).',
    },
    {
      key: 'rpccheckresults',
      type: 'bool',
      default: false,
      description:
        "Check every answer against its method's result schema; a mismatch is logged and answered as InternalError. For development and tests (the test suite runs with it on).",
    },
    {
      key: 'rpcmaxunauthenticated',
      type: 'int',
      default: 8,
      min: 1,
      max: 1000,
      description:
        'Most WebSocket connections waiting for their auth call: a pool of their own, so they never take a slot from authenticated clients or the Unix socket.',
    },
    {
      key: 'rpcmaxpending',
      type: 'int',
      default: 8388608,
      min: 65536,
      max: 1073741824,
      unit: 'bytes',
      description:
        "Most bytes of answers and events a client may leave unread. Past it anyad stops reading that client's requests until it reads; a client still over it after rpcpendingtimeout, or past twice it, is cut off (logged; a WebSocket gets close code 1008). A batch's answers count as they are built: once they pass it, the batch's requests not started yet are answered Busy (-32015, data.ran false) without running, and an answer finished after that is replaced by Busy with data.ran true. Separate from rpcsubscriberqueue.",
    },
    {
      key: 'rpcpendingtimeout',
      type: 'int',
      default: 30,
      min: 1,
      max: 3600,
      unit: 'seconds',
      description: 'How long a client may leave more than rpcmaxpending bytes unread before it is cut off.',
    },
    {
      key: 'rpcratelimit',
      type: 'int',
      // Above what one client waiting for each answer reaches (~25,000/s on one connection here, more on a fast
      // server): a cap for a runaway client, never the pace of an honest one. At 500 it was the bottleneck of 64
      // clients (about 800 answers/s each), the gap between the outside measure of throughput and the benchmark's.
      // Memory per client is bounded by rpcmaxpending and rpcmaxmessagesize, not by this.
      default: 100_000,
      min: 1,
      max: 1000000,
      unit: 'requests/s',
      description: 'Requests per second allowed on one connection (each batch element counts); past it a request is answered RateLimited with retry_after_ms.',
    },
    { key: 'rpcmaxbatch', type: 'int', default: 100, min: 1, max: 10000, description: 'Most requests in one batch.' },
    {
      key: 'rpcsubscriberqueue',
      type: 'int',
      default: 4194304,
      min: 65536,
      max: 1073741824,
      unit: 'bytes',
      description: 'Unsent bytes a subscriber may have queued before its subscriptions are cut off.',
    },
    { key: 'rpcmaxsubscriptions', type: 'int', default: 32, min: 1, max: 10000, description: 'Most subscriptions on one connection.' },
    {
      key: 'shutdowntimeout',
      type: 'int',
      default: 10,
      min: 0,
      max: 3600,
      unit: 'seconds',
      description: 'How long shutdown waits for in-flight requests to be answered, and then for each service to close (at least 5 s).',
    },
  ],
};
