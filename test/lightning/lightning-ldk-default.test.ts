// ldk.enable's regtest default: with the option unset, a regtest anyad with a chain and a keystore seed runs the
// embedded LDK node (npm start's configuration; the README walkthrough asks it for ln.getinfo) and follows the chain
// through reorgs, also one made while it was down; beside a configured Core Lightning, or turned off with
// -noldk.enable, it runs none. Real bcoin regtest node, real anyads.

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBcoin, type BcoinNode } from '../helpers/bcoin.js';
import { closeAll, unixChannel } from '../helpers/channel.js';
import { startDaemon, tempDir, type RunningDaemon } from '../helpers/daemon.js';
import { keystorePartyArgs } from '../helpers/keystore-party.js';
import { until } from '../helpers/until.js';

describe("the embedded LDK node as regtest's default Lightning", () => {
  let dir: { path: string; remove: () => Promise<void> };
  let node: BcoinNode;
  const daemons: RunningDaemon[] = [];

  before(async () => {
    dir = await tempDir();
    node = await startBcoin(dir.path);
    await node.mine(1);
  });
  after(() => closeAll(...daemons, node, dir));

  async function start(name: string, args: string[], waitForLdk = false): Promise<RunningDaemon> {
    const pf = join(dir.path, `${name}.pass`);
    await writeFile(pf, `${name}'s keystore passphrase\n`, { mode: 0o600, flag: 'w' });
    const d = await startDaemon(join(dir.path, name), {
      args: keystorePartyArgs(node, pf, args),
      embeddedLightning: true,
      ...(waitForLdk ? { alsoWaitFor: (l) => l.msg === 'LDK node started' } : {}),
    });
    daemons.push(d);
    return d;
  }

  async function getinfo(d: RunningDaemon): Promise<{ result?: { backend: string; network: string }; error?: { code: number; message: string } }> {
    const ch = await unixChannel(d.socket);
    try {
      return (await ch.call('ln.getinfo', { backend: 'ldk' })) as never;
    } finally {
      ch.close();
    }
  }

  it('runs with ldk.enable unset on regtest, answering ln.* with nothing else configured', async () => {
    const d = await start('alone', [], true);
    const r = await getinfo(d);
    assert.equal(r.error, undefined, JSON.stringify(r.error));
    assert.equal(r.result!.backend, 'ldk');
    assert.equal(r.result!.network, 'regtest');
  });

  it("follows reorgs: LDK's own best block is the node's tip after a longer fork, also one made while anyad was down", async () => {
    let d = daemons[0]!;
    const info = async (): Promise<{ block_height: number; block_hash: string }> => {
      const r = await getinfo(d);
      assert.equal(r.error, undefined, JSON.stringify(r.error));
      return r.result as never;
    };
    const atTip = async (): Promise<{ block_height: number; block_hash: string }> => {
      const tip = await node.rpc<string>('getbestblockhash');
      const height = await node.rpc<number>('getblockcount');
      return until(`LDK's best block at the tip ${height} ${tip}`, async () => {
        const i = await info();
        return i.block_hash === tip && i.block_height === height ? i : undefined;
      });
    };
    /** Takes the last `depth` blocks off the node's main chain and mines `length` others in their place. */
    const fork = async (depth: number, length: number): Promise<string[]> => {
      const height = await node.rpc<number>('getblockcount');
      const gone = await Promise.all(Array.from({ length: depth }, (_, i) => node.rpc<string>('getblockhash', height - depth + 1 + i)));
      await node.rpc('invalidateblock', gone[0]);
      await node.mine(length);
      return gone;
    };
    await node.mine(3);
    const before = await atTip();
    const gone = await fork(2, 3);
    const after = await atTip();
    assert.equal(after.block_height, before.block_height + 1);
    assert.ok(!gone.includes(after.block_hash));
    // The same while anyad is down: its LDK node starts on a best block that left the main chain.
    const name = 'alone';
    assert.equal(await d.kill(), 0);
    await fork(3, 5);
    d = await start(name, [], true);
    const again = await atTip();
    assert.equal(again.block_height, after.block_height + 2);
    assert.ok(d.logs.some((l) => l.msg === 'LDK node started'));
  });

  it('does not run beside a configured Core Lightning, nor with -noldk.enable', async () => {
    for (const [name, args] of [
      ['beside-cln', ['-cln.enable', `-cln.rpcfile=${join(dir.path, 'no-lightningd', 'lightning-rpc')}`]],
      ['turned-off', ['-noldk.enable']],
    ] as const) {
      const d = await start(name, [...args]);
      const r = await getinfo(d);
      assert.ok(r.error, `${name}: ln.getinfo for ldk must be refused`);
      // Beside CLN the lightning room runs and names the backend that is not configured; with no backend at all
      // the room serves no ln.* method.
      if (name === 'beside-cln') {
        assert.match(r.error.message, /ldk/i, r.error.message);
        // Keysend on cln is refused, saying why, before anything is sent or recorded.
        const ch = await unixChannel(d.socket);
        const k = await ch.call('ln.keysend', { destination: `02${'11'.repeat(32)}`, amount_msat: 1000, backend: 'cln' });
        ch.close();
        assert.equal(k.error?.code, -32017, JSON.stringify(k.error));
        assert.match(k.error.message, /keysend on the cln backend: Core Lightning's keysend draws its own preimage/);
      } else assert.equal(r.error.code, -32601, r.error.message);
      assert.ok(!d.logs.some((l) => /^LDK node/.test(String(l.msg))), `${name}: no LDK node was started`);
    }
  });
});
