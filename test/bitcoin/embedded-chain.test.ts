// The embedded regtest chain (issue 18, part 1): on regtest with no bitcoind configured anyad runs a real regtest
// node (bcoin) as a child process and connects the bitcoin room to it; chain.generate and anya-cli -generate mine
// on it; the chain persists in <datadir>/regtest/chain across restarts; SIGKILL of anyad leaves no chain process
// behind; -noembeddedchain, a configured bitcoind, or another network mean no embedded chain.

import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as bitcoin from 'bitcoinjs-lib';
import { wantsEmbeddedChain } from '../../src/adapters/bitcoin/embedded-chain.js';
import { loadConfig } from '../../src/daemon/config.js';
import { optionGroups } from '../../src/daemon/options.js';
import { ROOMS } from '../../src/daemon/rooms.js';
import { newWallet } from '../helpers/bcoin.js';
import { call, closeAll, unixChannel, type Channel } from '../helpers/channel.js';
import { ANYAD, runCli, startDaemon, tempDir, type RunningDaemon } from '../helpers/daemon.js';
import { until } from '../helpers/until.js';

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('the embedded regtest chain', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let d: RunningDaemon | undefined;
  let ch: Channel | undefined;
  const datadir = (): string => join(dir.path, 'anya');
  const start = async (): Promise<{ d: RunningDaemon; ch: Channel; pid: number }> => {
    const daemon = await startDaemon(datadir(), { embeddedChain: true, args: ['-noml.enable'] });
    const started = await daemon.waitForLog((l) => l.msg === 'embedded regtest chain started');
    const c = await unixChannel(daemon.socket);
    await until('bitcoind connected', async () => ((await c.call('chain.getinfo')).result ? true : undefined));
    return { d: daemon, ch: c, pid: started.pid as number };
  };
  before(async () => (dir = await tempDir()));
  after(() => closeAll(ch, d, dir));

  it('starts with anyad, health says it is embedded, chain.generate and anya-cli -generate mine on it', async () => {
    let pid: number;
    ({ d, ch, pid } = await start());
    assert.ok(alive(pid));
    const health = await call<{ services: Record<string, { state: string; detail: string }> }>(ch, 'health');
    assert.equal(health.services['embedded-chain']!.state, 'ok');
    assert.match(health.services['embedded-chain']!.detail, /embedded bcoin regtest node on 127\.0\.0\.1:\d+/);
    assert.equal(health.services.bitcoind!.state, 'ok');
    const cookie = join(datadir(), 'regtest', 'chain', '.cookie');
    assert.equal(statSync(cookie).mode & 0o777, 0o600);
    const w = newWallet();
    const mined = await call<{ address: string; blocks: string[] }>(ch, 'chain.generate', { nblocks: 101, address: w.address });
    assert.equal(mined.blocks.length, 101);
    const info = await call<{ blocks: number }>(ch, 'chain.getinfo');
    assert.equal(info.blocks, 101);
    const main = bitcoin.payments.p2wpkh({ pubkey: Buffer.from(w.key.publicKey), network: bitcoin.networks.bitcoin }).address!;
    const bad = await ch.call('chain.generate', { nblocks: 1, address: main });
    assert.deepEqual([bad.error?.code, (bad.error?.data as { field?: string }).field], [-32602, 'address']);
    assert.equal((await ch.call('chain.generate', { nblocks: 0, address: w.address })).error?.code, -32602);
    const cli = await runCli(['-regtest', `-datadir=${datadir()}`, '-generate', '2', w.address]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal((JSON.parse(cli.stdout) as { blocks: string[] }).blocks.length, 2);
    // This daemon has no keystore (-noembeddedkeystore): without an address, -generate says what to do.
    const noAddr = await runCli(['-regtest', `-datadir=${datadir()}`, '-generate', '2']);
    assert.notEqual(noAddr.code, 0);
    assert.match(noAddr.stderr, /fresh keystore address.*give an address/);
  });

  it('SIGKILL of anyad leaves no chain process behind; the chain is still there at the next start', async () => {
    const pid = ((await d!.waitForLog((l) => l.msg === 'embedded regtest chain started')).pid as number) ?? 0;
    ch!.close();
    assert.equal(await d!.kill('SIGKILL'), 'SIGKILL');
    await until('the chain process is gone', async () => (alive(pid) ? undefined : true));
    let next: number;
    ({ d, ch, pid: next } = await start());
    assert.notEqual(next, pid);
    assert.equal((await call<{ blocks: number }>(ch, 'chain.getinfo')).blocks, 103);
    ch.close();
    assert.equal(await d.kill('SIGTERM'), 0);
    await until('stopped with anyad', async () => (alive(next) ? undefined : true));
  });

  it('with the embedded keystore too (npm start on regtest): -generate with no address mines to a fresh keystore address', async () => {
    const dd = join(dir.path, 'both');
    const both = await startDaemon(dd, { embeddedChain: true, embeddedKeystore: true, args: ['-noml.enable', '-hsm.kdfcost=12'] });
    try {
      const warn = await both.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('embedded keystore'));
      assert.match(warn.msg, /regtest funds only/);
      const pass = join(dd, 'regtest', 'keystore.passphrase');
      assert.equal(statSync(pass).mode & 0o777, 0o600);
      assert.ok(!JSON.stringify(both.logs).includes(readFileSync(pass, 'utf8').trim()), 'the passphrase is never logged');
      const c = await unixChannel(both.socket);
      await until('bitcoind connected', async () => ((await c.call('chain.getinfo')).result ? true : undefined));
      const status = await call<{ provider: string; ready: boolean }>(c, 'hsm.status');
      assert.deepEqual([status.provider, status.ready], ['software', true]);
      c.close();
      const cli = await runCli(['-regtest', `-datadir=${dd}`, '-generate', '101']);
      assert.equal(cli.code, 0, cli.stderr);
      const mined = JSON.parse(cli.stdout) as { address: string; blocks: string[] };
      assert.equal(mined.blocks.length, 101);
      assert.match(mined.address, /^bcrt1q/);
    } finally {
      await both.kill();
    }
  });

  it('a WebSocket port already taken: anyad says how to choose another one', async () => {
    const holder = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
    const port = (holder.address() as { port: number }).port;
    try {
      const r = spawnSync(
        process.execPath,
        [ANYAD, '-regtest', `-datadir=${join(dir.path, 'taken')}`, `-rpcport=${port}`, '-noembeddedchain', '-noembeddedkeystore', '-noml.enable'],
        { encoding: 'utf8', timeout: 30_000 },
      );
      assert.equal(r.status, 1);
      assert.match(r.stderr, new RegExp(`port 127\\.0\\.0\\.1:${port} is taken.*-rpcport=<port>.*-norpcws`));
    } finally {
      holder.close();
    }
  });

  it('not started with -noembeddedchain, with a bitcoind configured, or on another network', async () => {
    const groups = optionGroups(ROOMS);
    const want = (argv: string[]): boolean => wantsEmbeddedChain(loadConfig({ argv: [`-datadir=${dir.path}`, ...argv], groups, home: '/home/nobody' }));
    assert.equal(want(['-regtest']), true);
    assert.equal(want(['-regtest', '-noembeddedchain']), false);
    assert.equal(want(['-regtest', '-bitcoind.rpcport=18443']), false);
    assert.equal(want(['-regtest', '-bitcoind.rpcuser=alice']), false);
    assert.equal(want(['-network=main']), false);
    assert.equal(want(['-testnet']), false);
    const other = await startDaemon(join(dir.path, 'other'), { args: ['-noml.enable', '-bitcoind.rpcport=1'], embeddedChain: true });
    const c = await unixChannel(other.socket);
    const health = await call<{ services: Record<string, unknown> }>(c, 'health');
    assert.equal(health.services['embedded-chain'], undefined);
    assert.equal(existsSync(join(dir.path, 'other', 'regtest', 'chain')), false);
    c.close();
    await other.kill();
  });
});
