// The ledger's replacement rules, on hand-made transactions (no node): a mempool transaction spending an input of
// an unconfirmed wallet transaction replaced it (BIP125: the node evicted the original); a confirmed one does too
// when it double-spends a coin of ours, and conflicts it when it spends someone else's input; the unconfirmed
// children of the original go with it; a rewind does not bring the original back.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BatchOp, RoomDb } from '../../src/core/store.js';
import type { VerboseTx } from '../../src/adapters/bitcoin/api.js';
import type { KeyPlace } from '../../src/wallet/keys.js';
import { Ledger, type TxChange } from '../../src/wallet/ledger.js';

const id = (n: number): string => n.toString(16).padStart(64, '0');
const OURS = new Map<string, KeyPlace>([
  ['0014' + 'aa'.repeat(20), { type: 'wpkh', chain: 0, index: 0 }],
  ['0014' + 'bb'.repeat(20), { type: 'wpkh', chain: 1, index: 0 }],
  ['0014' + 'cc'.repeat(20), { type: 'wpkh', chain: 1, index: 1 }],
]);
const FOREIGN = '0014' + 'ee'.repeat(20);
const tx = (txid: string, ins: Array<[string, number]>, outs: Array<[string, number]>): VerboseTx => ({
  txid,
  vin: ins.map(([t, v]) => ({ txid: t, vout: v })),
  vout: outs.map(([hex, sat], n) => ({ n, value: sat / 1e8, scriptPubKey: { hex } })),
});

function ledger(): { l: Ledger; step: (t: VerboseTx, at?: number) => TxChange[] } {
  const l = new Ledger({} as RoomDb, (s) => OURS.get(s));
  return {
    l,
    step: (t, at) => {
      const changes: TxChange[] = [];
      const ops: BatchOp[] = [];
      l.apply(t, at === undefined ? null : { height: at, hash: id(at) }, ops, changes);
      return changes;
    },
  };
}

describe('ledger: replaced and conflicted transactions', () => {
  const fundingTx = tx(id(1), [[id(100), 0]], [['0014' + 'aa'.repeat(20), 100_000]]);
  const original = tx(
    id(2),
    [[id(1), 0]],
    [
      [FOREIGN, 50_000],
      ['0014' + 'bb'.repeat(20), 49_000],
    ],
  );
  const replacement = tx(
    id(3),
    [[id(1), 0]],
    [
      [FOREIGN, 50_000],
      ['0014' + 'bb'.repeat(20), 48_000],
    ],
  );
  const child = tx(id(4), [[id(2), 1]], [['0014' + 'cc'.repeat(20), 48_500]]);

  it('a mempool replacement marks the original replaced, drops its child, and spends the coin again', () => {
    const { l, step } = ledger();
    step(fundingTx, 1);
    step(original);
    step(child);
    const changes = step(replacement);
    assert.deepEqual(
      changes.map((c) => [c.txid, c.status, c.replaced_by]),
      [
        [id(4), 'conflicted', undefined],
        [id(2), 'replaced', id(3)],
        [id(3), 'sent', undefined],
      ],
    );
    assert.equal(l.txs.get(id(2))!.replaced_by, id(3));
    assert.deepEqual([...l.coins.keys()], [`${id(3)}:1`]);
    assert.equal(l.txs.get(id(3))!.fee_sat, 2000);
    assert.deepEqual(
      step(replacement, 5).map((c) => c.status),
      ['confirmed'],
    );
    l.rewind(4, [], []);
    assert.equal(l.txs.get(id(2))!.status, 'replaced', 'a rewind does not bring the original back');
  });

  it('a confirmed double spend of our coin (a bump confirmed unseen) replaces; of a foreign input conflicts', () => {
    const { l, step } = ledger();
    step(fundingTx, 1);
    step(original);
    assert.deepEqual(
      step(replacement, 2).map((c) => [c.txid, c.status]),
      [
        [id(2), 'replaced'],
        [id(3), 'sent'],
      ],
    );
    const incoming = tx(id(5), [[id(200), 0]], [['0014' + 'aa'.repeat(20), 7000]]);
    const theirs = tx(id(6), [[id(200), 0]], [[FOREIGN, 6000]]);
    step(incoming);
    assert.deepEqual(
      step(theirs, 3).map((c) => [c.txid, c.status]),
      [[id(5), 'conflicted']],
    );
    assert.equal(l.coins.has(`${id(5)}:0`), false);
  });
});
