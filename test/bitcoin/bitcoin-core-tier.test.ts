// The Bitcoin Core tier: runs only when ANYA_BITCOIND names a bitcoind binary (Bitcoin Core cannot be installed on
// the CI machine). It checks what bcoin cannot show: Core's shapes (getblock verbosity 2, estimatesmartfee
// feerate, numeric version), its warm-up (-28) handled by waiting, and a rejected broadcast mapped to
// BackendRejected with Core's reason.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startDaemon, tempDir } from '../helpers/daemon.js';
import { wsChannel } from '../helpers/channel.js';
import { freePort, newWallet, pay } from '../helpers/bcoin.js';

const BITCOIND = process.env.ANYA_BITCOIND;
const reason = BITCOIND ? false : 'ANYA_BITCOIND is not set (it names a bitcoind binary); Bitcoin Core tier skipped';
if (reason) console.log(`# ${reason}`);

describe('Bitcoin Core tier', { skip: reason }, () => {
  it("connects through warm-up, speaks Core's shapes, maps a rejection", async () => {
    const dir = await tempDir();
    const port = await freePort();
    const core = spawn(BITCOIND!, ['-regtest', `-datadir=${dir.path}`, `-rpcport=${port}`, '-server', '-listen=0', '-txindex', '-fallbackfee=0.0002'], {
      stdio: 'ignore',
    });
    try {
      const cookie = join(dir.path, 'regtest', '.cookie');
      // anyad starts while bitcoind is still starting: it must wait (warming / unreachable) and then connect.
      const d = await startDaemon(join(dir.path, 'anya'), {
        args: [`-bitcoind.rpcport=${port}`, `-bitcoind.rpccookiefile=${cookie}`, '-bitcoind.pollinterval=200'],
      });
      await d.waitForLog((l) => l.msg === 'connected to bitcoind', 60000);
      await access(cookie);
      const ch = await wsChannel(d.wsUrl!, await d.cookie());
      const info = (await ch.call('chain.getinfo')).result as { backend: { kind: string } };
      assert.equal(info.backend.kind, 'core');
      await ch.call('subscribe', { topics: ['chain.block'] });
      const res = await fetch(`http://127.0.0.1:${port}/`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from((await import('node:fs')).readFileSync(cookie, 'utf8').trim()).toString('base64')}` },
        body: JSON.stringify({ jsonrpc: '1.0', id: 1, method: 'generatetoaddress', params: [1, newWallet().address] }),
      });
      const [hash] = ((await res.json()) as { result: string[] }).result;
      for (;;) {
        const e = (await ch.next(20000)) as { params: { topic: string; data: { hash: string } } };
        if (e.params?.data?.hash === hash) break;
      }
      const block = (await ch.call('chain.getblock', { block: hash, verbosity: 2 })).result as { tx: Array<{ txid: string }> };
      assert.ok(block.tx[0]!.txid);
      const fee = (await ch.call('chain.estimatefee', { targets: [2] })).result as { estimates: Array<{ errors: string[] }> };
      assert.ok(Array.isArray(fee.estimates[0]!.errors));
      const w = newWallet();
      const orphan = pay(w, { txid: '11'.repeat(32), vout: 0, value: 100000n }, newWallet().address);
      const rej = await ch.call('chain.broadcast', [orphan.hex]);
      assert.equal(rej.error?.code, -32016);
      assert.match(rej.error!.message, /bitcoind rejected the transaction/);
      ch.close();
      await d.kill();
    } finally {
      core.kill('SIGTERM');
      await new Promise((r) => core.once('exit', r));
      await dir.remove();
    }
  });
});
