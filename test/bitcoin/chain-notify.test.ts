// Chain notifications (issue 27 item 5): a room registers its handlers with the bitcoin room and asks for the
// spend of an outpoint and the confirmation of a transaction to a depth. Against the real regtest node: a spend
// seen in the mempool then in a block, a confirmation reaching its depth, a reorg (invalidateblock) that undoes
// both reported, and a restart of anyad with a spend and a confirmation made while it was down delivered when the
// room registers again, exactly once (and nothing it was told before told again).

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BITCOIN, type BitcoinApi, type ChainNotifications, type ConfirmEvent, type ReorgEvent, type SpendEvent } from '../../src/adapters/bitcoin/api.js';
import { bitcoinRoom } from '../../src/adapters/bitcoin/room.js';
import type { Room } from '../../src/core/room.js';
import { HealthCell } from '../../src/core/service.js';
import type { Daemon } from '../../src/daemon/daemon.js';
import { fund, newWallet, pay, startBcoin, type BcoinNode, type Wallet } from '../helpers/bcoin.js';
import { tempDir } from '../helpers/daemon.js';
import { startInProcess } from '../helpers/inproc.js';
import { until } from '../helpers/until.js';

interface Handle {
  notes?: ChainNotifications;
  chain?: BitcoinApi;
}

type Heard = ({ ev: 'spent' } & SpendEvent) | ({ ev: 'confirmed' } & ConfirmEvent) | ({ ev: 'reorged' } & ReorgEvent);

/** A room of the test's own: it registers its handlers when it opens and writes down every event it hears. */
function listeningRoom(heard: Heard[], handle: Handle): Room {
  return {
    name: 'notetest',
    requires: [BITCOIN],
    create: ({ use }) => {
      const chain = use(BITCOIN)!;
      handle.chain = chain;
      const cell = new HealthCell('ok', 'listening');
      return {
        service: {
          name: 'notetest',
          open: () => {
            handle.notes = chain.notifications('notetest', {
              spent: (e) => void heard.push({ ev: 'spent', ...e }),
              confirmed: (e) => void heard.push({ ev: 'confirmed', ...e }),
              reorged: (e) => void heard.push({ ev: 'reorged', ...e }),
            });
            return Promise.resolve();
          },
          close: () => Promise.resolve(),
          health: () => cell.get(),
        },
      };
    },
  };
}

describe('chain notifications: spends, confirmations, reorgs, restarts', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let node: BcoinNode;
  let daemon: Daemon | undefined;
  let heard: Heard[] = [];
  const handle: Handle = {};
  let w: Wallet;
  let coin: { txid: string; vout: number; value: bigint };
  let tx1: { hex: string; txid: string };

  const start = async (): Promise<void> => {
    heard = [];
    const { started } = startInProcess(
      join(dir.path, 'anya'),
      [bitcoinRoom, listeningRoom(heard, handle)],
      [`-bitcoind.rpcport=${node.port}`, `-bitcoind.rpccookiefile=${node.cookieFile}`, '-bitcoind.pollinterval=100'],
    );
    daemon = await started;
  };
  const stop = async (): Promise<void> => {
    await daemon?.stop('test');
    await daemon?.done;
    daemon = undefined;
  };
  /** Mines, once bcoin's mempool has caught up with a chain that moved back (it refuses to mine until then). */
  const mine = (n: number): Promise<string[]> =>
    until(`${n} blocks mined`, () => node.mine(n).catch((err: Error) => (/tip mismatch/.test(err.message) ? undefined : Promise.reject(err))));
  const hear = (what: string, pred: (h: Heard) => boolean): Promise<Heard> => until(what, () => Promise.resolve(heard.find(pred)));

  before(async () => {
    dir = await tempDir();
    node = await startBcoin(dir.path);
    w = newWallet();
    coin = await fund(node, w);
    tx1 = pay(w, coin, w.address);
    await start();
  });
  after(async () => {
    await stop().catch(() => undefined);
    await node?.stop().catch(() => undefined);
    await dir.remove();
  });

  it('a spend is told in the mempool, then in its block; a confirmation when it reaches its depth', async () => {
    await handle.notes!.watchSpend({ outpoint: `${coin.txid}:${coin.vout}`, id: 'coin' });
    await handle.notes!.watchConfirm({ txid: tx1.txid, depth: 2, id: 'tx1' });
    await node.send(tx1.hex);
    const inPool = await hear('the spend in the mempool', (h) => h.ev === 'spent' && h.id === 'coin');
    assert.deepEqual(inPool, {
      ev: 'spent',
      id: 'coin',
      outpoint: `${coin.txid}:${coin.vout}`,
      txid: tx1.txid,
      hex: tx1.hex,
      height: null,
      block_hash: null,
    });
    const [b1] = await mine(1);
    const h1 = (await node.rpc<{ height: number }>('getblockheader', b1)).height;
    await hear('the spend in its block', (h) => h.ev === 'spent' && h.height === h1);
    assert.equal(
      heard.some((h) => h.ev === 'confirmed'),
      false,
      'one confirmation is not the depth asked',
    );
    const [b2] = await mine(1);
    await hear('the depth reached', (h) => h.ev === 'confirmed');
    await until('the watcher at the second block', () => Promise.resolve(handle.chain!.tip()?.hash === b2 ? true : undefined));
    assert.deepEqual(
      heard.map((h) => [h.ev, h.id, h.height]),
      [
        ['spent', 'coin', null],
        ['spent', 'coin', h1],
        ['confirmed', 'tx1', h1],
      ],
    );
    assert.equal((heard[2] as ConfirmEvent).confirmations, 2);
    assert.equal((heard[1] as SpendEvent).block_hash, b1);
    assert.equal((heard[1] as SpendEvent).hex, tx1.hex, 'the spending transaction, from the block');
  });

  it('a reorg that takes the block away is told (the spend and the confirmation), and the new block is told again', async () => {
    const was = heard.length;
    const b1 = (heard[1] as SpendEvent).block_hash!;
    const h1 = (heard[1] as SpendEvent).height!;
    await node.rpc('invalidateblock', b1);
    await hear('the spend reorged', (h) => h.ev === 'reorged' && h.id === 'coin');
    await hear('the confirmation reorged', (h) => h.ev === 'reorged' && h.id === 'tx1');
    const reorged = heard.slice(was).filter((h) => h.ev === 'reorged');
    assert.deepEqual(reorged.map((h) => [h.id, (h as ReorgEvent).kind, h.txid, (h as ReorgEvent).height, (h as ReorgEvent).block_hash]).sort(), [
      ['coin', 'spend', tx1.txid, h1, b1],
      ['tx1', 'confirm', tx1.txid, h1, b1],
    ]);
    // bcoin 1.0.2 empties its mempool on invalidateblock, and refuses to mine on a transaction received before the
    // next block: a block first, then the spend again, seen in the mempool and then in a block of the new branch.
    const [empty] = await mine(1);
    await node.send(tx1.hex);
    await hear('the spend in the mempool again', (h) => heard.indexOf(h) > was && h.ev === 'spent' && h.height === null);
    const fresh = await mine(2);
    const again = await hear('the spend in the new block', (h) => h.ev === 'spent' && h.block_hash === fresh[0]);
    assert.equal(again.txid, tx1.txid);
    const confirmed = (await hear('the new confirmation', (h) => h.ev === 'confirmed' && h.block_hash === fresh[0])) as ConfirmEvent;
    assert.equal(confirmed.height, h1 + 1);
    assert.equal(confirmed.confirmations, 2);
    assert.ok(!heard.some((h) => h.block_hash === empty), 'the empty block tells nothing');
  });

  it('what happened while anyad was down is told once when the room registers again; nothing told before is told again', async () => {
    const v = newWallet();
    const tx2 = pay(w, { txid: tx1.txid, vout: 0, value: coin.value - 1000n }, v.address);
    await handle.notes!.watchSpend({ outpoint: `${tx1.txid}:0`, id: 'change' });
    await handle.notes!.watchConfirm({ txid: tx2.txid, depth: 1, id: 'tx2' });
    await stop();
    await node.send(tx2.hex);
    const [b] = await mine(1);
    const height = (await node.rpc<{ height: number }>('getblockheader', b)).height;
    await start();
    await hear('the spend made while down', (h) => h.ev === 'spent' && h.id === 'change');
    await hear('the confirmation made while down', (h) => h.ev === 'confirmed' && h.id === 'tx2');
    // One more block: the registrations told already stay quiet.
    const [next] = await mine(1);
    await until('the watcher at the next block', () => Promise.resolve(handle.chain!.tip()?.hash === next ? true : undefined));
    assert.deepEqual(
      heard.map((h) => [h.ev, h.id, h.txid, h.height]),
      [
        ['spent', 'change', tx2.txid, height],
        ['confirmed', 'tx2', tx2.txid, height],
      ],
      'each once, in a block (its mempool stage was missed while down)',
    );
    await stop();
    await start();
    const [last] = await mine(1);
    await until('the watcher at the last block', () => Promise.resolve(handle.chain!.tip()?.hash === last ? true : undefined));
    assert.deepEqual(heard, [], 'after a second restart nothing is told again');
  });

  it('refuses a malformed outpoint, txid, depth or id, naming what is wrong', async () => {
    const notes = handle.notes!;
    const refused = (re: RegExp) => (e: unknown) => (e as { code?: number }).code === -32602 && re.test((e as Error).message);
    await assert.rejects(notes.watchSpend({ outpoint: 'zz:0', id: 'x' }), refused(/outpoint must be <txid>:<vout>/));
    await assert.rejects(notes.watchSpend({ outpoint: `${'ab'.repeat(32)}:4294967296`, id: 'x' }), refused(/outpoint/));
    await assert.rejects(notes.watchConfirm({ txid: 'ab', depth: 1, id: 'x' }), refused(/txid must be 32 bytes/));
    await assert.rejects(notes.watchConfirm({ txid: 'ab'.repeat(32), depth: 0, id: 'x' }), refused(/depth must be 1 to 1000/));
    await assert.rejects(notes.watchSpend({ outpoint: `${'ab'.repeat(32)}:0`, id: 'a:b' }), refused(/none of them ':'/));
    await assert.rejects(notes.watchSpend({ outpoint: `${'ab'.repeat(32)}:0`, id: '' }), refused(/1 to 128 printable/));
  });
});
