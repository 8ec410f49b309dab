// anya-cli's command line, read the way bitcoin-cli reads its own: `-option[=value]` before the method, then the
// method and its arguments. Options shared with anyad (datadir, conf, network, rpcsocket, ...) are resolved with
// anyad's own config loader, so the CLI finds the socket and cookie exactly where the daemon puts them.

export const EXIT = { ok: 0, rpcError: 1, usage: 2, connection: 3 } as const;

export class UsageError extends Error {
  override name = 'UsageError';
}

/** Options that only the CLI has. */
const CLI_ONLY = new Set([
  'rpcconnect',
  'rpcuser',
  'rpcpassword',
  'rpcwait',
  'rpcwaittimeout',
  'rpcclienttimeout',
  'named',
  'stdin',
  'getinfo',
  'generate',
  'getbalance',
  'feerate',
  'help',
  'version',
]);
/** anyad options the CLI passes to the config loader to find the socket, cookie and port. */
const SHARED = new Set(['datadir', 'conf', 'network', 'regtest', 'testnet', 'signet', 'rpcsocket', 'rpccookiefile', 'rpcport', 'rpcbind']);

export interface CliArgs {
  daemonArgv: string[];
  rpcconnect?: string;
  rpcuser?: string;
  rpcpassword?: string;
  rpcwait: boolean;
  rpcwaittimeout: number;
  rpcclienttimeout: number;
  named: boolean;
  stdin: boolean;
  getinfo: boolean;
  /** -generate [nblocks] [address]: chain.generate, as bitcoin-cli -generate (regtest). */
  generate: boolean;
  /** -getbalance: wallet.getbalance printed for people. */
  getbalance: boolean;
  /** -feerate=<sat/vB>: the fee rate of `send` (or its third argument), checked with it (wallet.ts). */
  feerate?: string;
  help: boolean;
  version: boolean;
  method?: string;
  args: string[];
}

function intOpt(key: string, value: string | undefined, min: number, max: number): number {
  if (value === undefined || !/^\d+$/.test(value) || Number(value) < min || Number(value) > max)
    throw new UsageError(`-${key} needs an integer from ${min} to ${max}`);
  return Number(value);
}

function boolOpt(key: string, value: string | undefined): boolean {
  if (value === undefined || value === '1' || value === 'true') return true;
  if (value === '0' || value === 'false') return false;
  throw new UsageError(`-${key} takes 1 or 0`);
}

export function parseCliArgs(argv: readonly string[]): CliArgs {
  const out: CliArgs = {
    daemonArgv: [],
    rpcwait: false,
    rpcwaittimeout: 0,
    rpcclienttimeout: 900,
    named: false,
    stdin: false,
    getinfo: false,
    generate: false,
    getbalance: false,
    help: false,
    version: false,
    args: [],
  };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('-') || a === '-' || /^-\d/.test(a)) break;
    const body = a.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const key = eq < 0 ? body : body.slice(0, eq);
    const value = eq < 0 ? undefined : body.slice(eq + 1);
    if (SHARED.has(key)) {
      out.daemonArgv.push(a);
      continue;
    }
    if (!CLI_ONLY.has(key) && key !== '?' && key !== 'h') throw new UsageError(`unknown option -${key} (see anya-cli -help)`);
    switch (key) {
      case 'rpcconnect':
        if (!value || !/^wss?:\/\//.test(value)) throw new UsageError('-rpcconnect needs a ws:// or wss:// URL');
        out.rpcconnect = value;
        break;
      case 'rpcuser':
        if (!value) throw new UsageError('-rpcuser needs a value');
        out.rpcuser = value;
        break;
      case 'rpcpassword':
        if (value === undefined) throw new UsageError('-rpcpassword needs a value');
        out.rpcpassword = value;
        break;
      case 'rpcwait':
        out.rpcwait = boolOpt(key, value);
        break;
      case 'rpcwaittimeout':
        out.rpcwaittimeout = intOpt(key, value, 0, 86400);
        break;
      case 'rpcclienttimeout':
        out.rpcclienttimeout = intOpt(key, value, 0, 86400);
        break;
      case 'named':
        out.named = boolOpt(key, value);
        break;
      case 'stdin':
        out.stdin = boolOpt(key, value);
        break;
      case 'getinfo':
        out.getinfo = boolOpt(key, value);
        break;
      case 'generate':
        out.generate = boolOpt(key, value);
        break;
      case 'getbalance':
        out.getbalance = boolOpt(key, value);
        break;
      case 'feerate':
        if (!value) throw new UsageError('-feerate needs a fee rate in sat/vB (e.g. -feerate=2)');
        out.feerate = value;
        break;
      case 'version':
        out.version = true;
        break;
      default:
        out.help = true;
    }
  }
  out.method = argv[i];
  out.args = argv.slice(i + 1);
  return out;
}

/** An argument as JSON when it parses as JSON, else as a string (so `abc` and `"abc"` both reach as "abc"). */
export function parseValue(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}

/** Positional args, or with -named `key=value` pairs; a named arg without `=` is a usage error. */
export function buildParams(args: readonly string[], named: boolean): unknown[] | Record<string, unknown> {
  if (!named) return args.map(parseValue);
  const out: Record<string, unknown> = {};
  for (const a of args) {
    const eq = a.indexOf('=');
    if (eq <= 0) throw new UsageError(`-named argument '${a}' is not key=value`);
    const key = a.slice(0, eq);
    if (key in out) throw new UsageError(`parameter ${key} given twice`);
    out[key] = parseValue(a.slice(eq + 1));
  }
  return out;
}

export const CLI_HELP = `Usage: anya-cli [options] <method> [params]      call a method of anyad
       anya-cli [options] -named <method> [name=value]...
       anya-cli [options] subscribe <topic>...      print events as JSON lines until Ctrl-C
       anya-cli [options] -getinfo                  a summary for people
       anya-cli -regtest -generate [n] [address]    mine n blocks (default 1) to the address, or to a fresh keystore address
       anya-cli [options] -getbalance               the wallet's balance, for people
       anya-cli [options] send <address> <amount> [feerate]
                                                    pay <amount> BTC from the wallet (fee rate in sat/vB, or -feerate=);
                                                    prints the txid
       anya-cli [options] help [method]

Options:
  -datadir=<dir>        anyad's data directory (default ~/.anya)
  -conf=<file>          anyad's config file, read for rpcsocket/rpcport/rpccookiefile
  -regtest, -testnet, -signet, -network=<net>
  -rpcsocket=<path>     Unix socket (default <datadir>/<net>/anya.sock)
  -rpcconnect=<url>     use the WebSocket at ws://host:port/ instead of the socket
  -rpcuser=<user>       with -rpcpassword: an rpcauth user for -rpcconnect (default: the cookie)
  -rpcpassword=<pw>
  -rpccookiefile=<path> the cookie for -rpcconnect (default <datadir>/<net>/.cookie)
  -rpcwait              wait until anyad answers and has finished starting
  -rpcwaittimeout=<s>   give up -rpcwait after this many seconds (default 0: no limit)
  -rpcclienttimeout=<s> give up on an answer after this many seconds (default 900; 0: no limit)
  -named                params are name=value pairs
  -stdin                read more params from stdin, one per line
  -feerate=<sat/vB>     the fee rate of send (without it: the node's estimate, or wallet.fallbackfee)
  -version              print the version

Params are read as JSON when they parse as JSON, else as strings.
Exit codes: 0 success, 1 the method returned an error, 2 bad usage, 3 cannot connect to anyad.
`;
