#!/usr/bin/env node
// anya-cli: anyad's command-line client, with bitcoin-cli's habits (see CLI_HELP in args.ts).

import { readFile } from 'node:fs/promises';
import { AnyaClient, ConnectionError, RpcCallError, type ClientOptions } from '../client/index.js';
import { VERSION } from '../core/version.js';
import { ConfigError, loadConfig } from '../daemon/config.js';
import { withRoomGroups } from '../daemon/options.js';
import { ROOM_OPTIONS } from '../daemon/room-options.js';
import { ErrorCode } from '../core/errors.js';
import { buildParams, CLI_HELP, EXIT, parseCliArgs, UsageError, type CliArgs } from './args.js';
import { describeBalance, NO_WALLET, sendParams, type WalletBalance } from './wallet.js';

const out = (s: string): void => void process.stdout.write(s.endsWith('\n') ? s : `${s}\n`);
const err = (s: string): void => void process.stderr.write(s.endsWith('\n') ? s : `${s}\n`);

async function main(argv: string[]): Promise<number> {
  let args: CliArgs;
  try {
    args = parseCliArgs(argv);
  } catch (e) {
    err(`error: ${(e as Error).message}`);
    return EXIT.usage;
  }
  if (args.help) {
    out(CLI_HELP);
    return EXIT.ok;
  }
  if (args.version) {
    out(`anya-cli version ${VERSION}`);
    return EXIT.ok;
  }
  let target: ClientOptions;
  try {
    target = await resolveTarget(args);
  } catch (e) {
    err(`error: ${(e as Error).message}`);
    return e instanceof ConfigError || e instanceof UsageError ? EXIT.usage : EXIT.connection;
  }
  target.timeoutMs = args.rpcclienttimeout === 0 ? 2 ** 31 - 1 : args.rpcclienttimeout * 1000;

  let method: string;
  let params: unknown[] | Record<string, unknown> | undefined;
  try {
    if (args.feerate !== undefined && (args.getinfo || args.getbalance || args.generate || args.method !== 'send'))
      throw new UsageError('-feerate goes with send: anya-cli -feerate=<sat/vB> send <address> <amount>');
    if (args.getinfo) {
      method = 'getinfo';
    } else if (args.getbalance) {
      if (args.method !== undefined) throw new UsageError('-getbalance takes no method or arguments');
      method = 'wallet.getbalance';
    } else if (args.generate) {
      // bitcoin-cli's -generate takes [nblocks] [maxtries] and asks its wallet for an address; anyad has no
      // wallet of that kind, so the address is given: -generate [nblocks] <address>.
      const [first, second] = [args.method, ...args.args];
      const [n, address] = second === undefined && first !== undefined && !/^\d+$/.test(first) ? ['1', first] : [first ?? '1', second];
      if (!/^\d+$/.test(n!)) throw new UsageError('-generate takes [nblocks] <address>');
      method = 'chain.generate';
      params = { nblocks: Number(n), ...(address ? { address } : {}) };
    } else if (args.method === 'send') {
      // sendtoaddress's habits: the amount in BTC, turned into satoshis exactly (wallet.ts).
      if (args.named || args.stdin) throw new UsageError('send takes positional arguments: send <address> <amount> [feerate]');
      method = 'wallet.send';
      params = sendParams(args.args, args.feerate);
    } else {
      if (!args.method) throw new UsageError('too few parameters (need a method; see anya-cli -help)');
      method = args.method;
      const extra = args.stdin ? await readStdinLines() : [];
      params = buildParams([...args.args, ...extra], args.named);
    }
  } catch (e) {
    err(`error: ${(e as Error).message}`);
    return EXIT.usage;
  }

  let client: AnyaClient;
  try {
    client = await connect(target, args);
  } catch (e) {
    return reportFailure(e, target);
  }
  try {
    if (method === 'subscribe' && !args.getinfo) return await streamEvents(client, params);
    if (method === 'chain.generate' && !(params as { address?: string }).address) {
      // As bitcoin-cli asks its wallet: a fresh key from the keystore, and its P2WPKH address.
      const key = await call(client, 'hsm.generatekey', { label: `generate ${new Date().toISOString()}` }, args).catch((e: Error) => {
        throw new UsageError(`-generate without an address takes a fresh keystore address, and the keystore answered: ${e.message}; give an address instead`);
      });
      const pub = (await call(client, 'hsm.getpubkey', { key: (key as { id: string }).id }, args)) as { addresses: { p2wpkh: string } };
      (params as { address?: string }).address = pub.addresses.p2wpkh;
    }
    const result = await call(client, method, params, args).catch((e: unknown) => {
      // A wallet command on an anyad without its wallet room: say why, not only "Method not found".
      if (method.startsWith('wallet.') && e instanceof RpcCallError && e.code === ErrorCode.MethodNotFound) throw new RpcCallError(e.code, NO_WALLET, e.data);
      throw e;
    });
    if (args.generate) await followed(client, args);
    if (args.getinfo) out(describeInfo(result as Info));
    else if (args.getbalance) out(describeBalance(result as WalletBalance));
    else if (method === 'wallet.send' && args.method === 'send') out((result as { txid: string }).txid);
    else if (typeof result === 'string') out(result);
    else if (result !== null && result !== undefined) out(JSON.stringify(result, null, 2));
    return EXIT.ok;
  } catch (e) {
    return reportFailure(e, target);
  } finally {
    await client.close();
  }
}

/**
 * After -generate: waits until anyad's watcher has processed the blocks just mined, so the next command (a
 * wallet.getbalance, a chain.getinfo) sees them, as bitcoin-cli's next call sees its wallet synced to the blocks
 * generatetoaddress made. A watcher that does not follow within 30 s is said on stderr; the blocks are mined anyway.
 */
async function followed(client: AnyaClient, args: CliArgs): Promise<void> {
  type ChainInfo = { blocks: number | null; processed_height: number | null };
  const target = (await call(client, 'chain.getinfo', undefined, args)) as ChainInfo;
  const deadline = Date.now() + 30_000;
  for (let info = target; target.blocks !== null; info = (await call(client, 'chain.getinfo', undefined, args)) as ChainInfo) {
    if (info.processed_height !== null && info.processed_height >= target.blocks) return;
    if (Date.now() >= deadline) {
      err(`anyad has not processed block ${target.blocks} yet (its watcher is at ${info.processed_height ?? 'no block'}); see anya-cli health`);
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Where to connect: the Unix socket by default, or the WebSocket with -rpcconnect (cookie or -rpcuser). */
async function resolveTarget(args: CliArgs): Promise<ClientOptions> {
  const config = loadConfig({ argv: args.daemonArgv, groups: withRoomGroups(ROOM_OPTIONS) });
  if (!args.rpcconnect) {
    const socket = config.path('rpcsocket');
    if (!socket) throw new UsageError('anyad has no Unix socket configured (rpcsocket is empty); use -rpcconnect=ws://host:port');
    return { socket };
  }
  if (args.rpcuser !== undefined || args.rpcpassword !== undefined) {
    if (args.rpcuser === undefined || args.rpcpassword === undefined) throw new UsageError('-rpcuser and -rpcpassword go together');
    return { url: args.rpcconnect, token: `${args.rpcuser}:${args.rpcpassword}` };
  }
  const cookieFile = config.path('rpccookiefile')!;
  let token: string;
  try {
    token = (await readFile(cookieFile, 'utf8')).trim();
  } catch (e) {
    throw new ConnectionError(
      `cannot read the cookie ${cookieFile} (${(e as NodeJS.ErrnoException).code}); is anyad running, and may you read its datadir? Or use -rpcuser/-rpcpassword`,
    );
  }
  return { url: args.rpcconnect, token };
}

/** Connects; with -rpcwait keeps trying (once a second, like bitcoin-cli) until anyad answers or the timeout. */
async function connect(target: ClientOptions, args: CliArgs): Promise<AnyaClient> {
  const deadline = args.rpcwaittimeout > 0 ? Date.now() + args.rpcwaittimeout * 1000 : Infinity;
  for (;;) {
    try {
      return await AnyaClient.connect(target);
    } catch (e) {
      if (!args.rpcwait || !(e instanceof ConnectionError) || Date.now() >= deadline) throw e;
      await new Promise((r) => setTimeout(r, Math.min(1000, Math.max(0, deadline - Date.now()))));
    }
  }
}

/** One call; with -rpcwait, a -28 (still starting) answer means wait and ask again. */
async function call(client: AnyaClient, method: string, params: unknown[] | Record<string, unknown> | undefined, args: CliArgs): Promise<unknown> {
  const deadline = args.rpcwaittimeout > 0 ? Date.now() + args.rpcwaittimeout * 1000 : Infinity;
  for (;;) {
    try {
      return await client.call(method, params);
    } catch (e) {
      if (!args.rpcwait || !(e instanceof RpcCallError) || e.code !== ErrorCode.WarmingUp || Date.now() >= deadline) throw e;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

async function streamEvents(client: AnyaClient, params: unknown[] | Record<string, unknown> | undefined): Promise<number> {
  const topics = Array.isArray(params) ? params.map(String) : Array.isArray(params?.topics) ? (params.topics as unknown[]).map(String) : [];
  if (topics.length === 0) {
    err('error: subscribe needs at least one topic (e.g. anya-cli subscribe daemon.*)');
    return EXIT.usage;
  }
  const sub = await client.subscribe(topics);
  let interrupted = false;
  let stopping: string | undefined;
  const onSignal = (): void => {
    interrupted = true;
    void sub.close();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // A daemon that stops says so first (daemon.stopping): the stream then ends cleanly, as at Ctrl-C.
  const watchStop =
    topics.includes('daemon.stopping') || topics.includes('daemon.*') ? undefined : await client.subscribe(['daemon.stopping']).catch(() => undefined);
  void (async () => {
    if (!watchStop) return;
    for await (const ev of watchStop) {
      stopping = String((ev.data as { reason?: string }).reason ?? 'stopping');
      void sub.close();
      return;
    }
  })().catch(() => undefined);
  try {
    const asked = (t: string): boolean => topics.some((p) => p === t || (p.endsWith('.*') && t.startsWith(p.slice(0, -1))));
    for await (const ev of sub) {
      if (ev.topic === 'daemon.stopping') stopping = String((ev.data as { reason?: string }).reason ?? 'stopping');
      if (asked(ev.topic)) out(JSON.stringify({ topic: ev.topic, data: ev.data }));
    }
  } catch (e) {
    if (!interrupted && stopping === undefined) throw e;
  }
  if (interrupted) return EXIT.ok;
  if (stopping !== undefined) {
    err(`anyad is stopping (${stopping}); the subscription ended`);
    return EXIT.ok;
  }
  err('error: anyad closed the connection');
  return EXIT.connection;
}

function reportFailure(e: unknown, target: ClientOptions): number {
  if (e instanceof UsageError) {
    err(`error: ${e.message}`);
    return EXIT.usage;
  }
  if (e instanceof RpcCallError) {
    // bitcoin-cli's format, so scripts that parse it keep working.
    err(`error code: ${e.code}\nerror message:\n${e.message}`);
    return EXIT.rpcError;
  }
  if (e instanceof ConnectionError && /HTTP 401/.test(e.message)) {
    err('error: Authorization failed: incorrect rpcuser or rpcpassword, or a stale cookie');
    return EXIT.connection;
  }
  if (e instanceof ConnectionError) {
    err(
      `error: Could not connect to the server ${target.socket ?? target.url}\n(${e.message})\n\nMake sure the anyad server is running and that you are connecting to the correct RPC endpoint.`,
    );
    return EXIT.connection;
  }
  err(`error: ${(e as Error).message}`);
  return EXIT.connection;
}

interface Info {
  version: string;
  network: string;
  uptime: number;
  datadir: string;
  netdir: string;
  connections: number;
  endpoints: { socket?: string; ws?: { host: string; port: number; tls: boolean } };
  services: Record<string, { state: string; detail: string; since: string }>;
}

function describeInfo(i: Info): string {
  const up = `${Math.floor(i.uptime / 86400)}d ${Math.floor((i.uptime % 86400) / 3600)}h ${Math.floor((i.uptime % 3600) / 60)}m ${i.uptime % 60}s`;
  const lines = [
    `anyad ${i.version} on ${i.network}`,
    `Uptime: ${up}`,
    `Data directory: ${i.netdir}`,
    `Unix socket: ${i.endpoints.socket ?? 'off'}`,
    `WebSocket: ${i.endpoints.ws ? `${i.endpoints.ws.tls ? 'wss' : 'ws'}://${i.endpoints.ws.host}:${i.endpoints.ws.port}/` : 'off'}`,
    `Connections: ${i.connections}`,
    'Services:',
  ];
  const names = Object.keys(i.services);
  if (names.length === 0) lines.push('  (none configured)');
  const w = Math.max(0, ...names.map((n) => n.length));
  for (const n of names) lines.push(`  ${n.padEnd(w)}  ${i.services[n]!.state.padEnd(11)} ${i.services[n]!.detail}`);
  return lines.join('\n');
}

async function readStdinLines(): Promise<string[]> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of process.stdin) {
    size += (c as Buffer).length;
    if (size > 64 * 1024 * 1024) throw new UsageError('stdin is larger than 64 MiB');
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks)
    .toString('utf8')
    .split(/\r?\n/)
    .filter((l) => l.length > 0);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    err(`error: ${(e as Error).message}`);
    process.exitCode = EXIT.connection;
  },
);
