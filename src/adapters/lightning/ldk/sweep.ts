// Outputs of closed channels that only this node's keys can spend (LDK's SpendableOutputs: a cooperative close's
// output to LDK's shutdown key, a force close's delayed to_local, ...), swept to an address of anyad's wallet. The
// descriptors are written before the ChannelManager that raised the event (node.ts waits for `pendingWrites`), and
// kept until the sweep is accepted by the node; the sweeps of those not yet accepted are tried again at each start
// and each block, so a crash or a refused broadcast loses nothing.

import type { Logger } from 'pino';
import * as ldk from 'lightningdevkit';
import { createHash } from 'node:crypto';
import * as bitcoin from 'bitcoinjs-lib';
import type { Network } from '../../../core/options.js';
import type { RoomDb, Store } from '../../../core/store.js';
import { bitcoinNetwork } from '../../../core/bitcoin-network.js';
import type { BitcoinApi } from '../../bitcoin/api.js';
import type { WalletApi } from '../../../wallet/api.js';
import type { LdkNode } from './node.js';

const SPENDABLE = 'ldk-node:spendable:';

interface Spendable {
  /** The descriptors, as LDK serialises them, hex. */
  descriptors: string[];
  /** The sweep accepted by the node (txid), once it is. */
  swept?: string;
}

export class LdkSweeper {
  node: LdkNode | undefined;
  private readonly writes = new Set<Promise<void>>();
  private running: Promise<void> | undefined;

  constructor(private readonly o: { db: RoomDb; store: Store; chain: BitcoinApi; wallet: WalletApi | undefined; network: Network; log: Logger }) {}

  pendingWrites(): Promise<unknown> {
    return Promise.allSettled([...this.writes]);
  }

  /** LDK's SpendableOutputs; false for the other events. */
  onEvent(e: ldk.Event): boolean {
    if (!(e instanceof ldk.Event_SpendableOutputs)) return false;
    const descriptors = e.outputs.map((d) => Buffer.from(d.write()).toString('hex'));
    // Keyed by the descriptors themselves: LDK raising the event again after a crash writes the same entry.
    const id = createHash('sha256').update(descriptors.join()).digest('hex').slice(0, 32);
    const w = this.o.store
      .batch([{ type: 'put', sublevel: this.o.db, key: SPENDABLE + id, value: { descriptors } satisfies Spendable }])
      .then(() => this.sweepAll())
      .catch((err: Error) => this.o.log.error({ reason: err.message }, 'recording spendable outputs failed'));
    this.writes.add(w);
    void w.finally(() => this.writes.delete(w));
    return true;
  }

  /** Sweeps every kept output not yet swept (one run at a time). */
  sweepAll(): Promise<void> {
    this.running ??= this.run().finally(() => (this.running = undefined));
    return this.running;
  }

  private async run(): Promise<void> {
    const n = this.node;
    if (!n) return;
    for await (const [key, v] of this.o.db.iterator({ gte: SPENDABLE, lt: `${SPENDABLE}\xff` })) {
      const entry = v as Spendable;
      if (entry.swept) continue;
      if (!this.o.wallet) {
        this.o.log.warn({ outputs: entry.descriptors.length }, 'outputs of a closed channel wait for the wallet room (wallet.enable) to be swept to');
        return;
      }
      try {
        const descs = entry.descriptors.map((h) => {
          const r = ldk.SpendableOutputDescriptor.constructor_read(Buffer.from(h, 'hex'));
          if (!(r instanceof ldk.Result_SpendableOutputDescriptorDecodeErrorZ_OK)) throw new Error('a kept spendable output cannot be read back');
          return r.res;
        });
        const script = bitcoin.address.toOutputScript(await this.o.wallet.newAddress(), bitcoinNetwork(this.o.network));
        const feerate = n.fees.estimator.get_est_sat_per_1000_weight(ldk.ConfirmationTarget.LDKConfirmationTarget_OutputSpendingFee);
        const tx = n.keys.as_OutputSpender().spend_spendable_outputs(descs, [], script, feerate, ldk.Option_u32Z.constructor_none());
        if (!(tx instanceof ldk.Result_TransactionNoneZ_OK)) throw new Error('LDK cannot build the sweep (outputs worth less than its fee?)');
        const txid = await this.o.chain.broadcast(Buffer.from(tx.res).toString('hex'), 'the sweep of a closed channel');
        await this.o.store.batch([{ type: 'put', sublevel: this.o.db, key, value: { ...entry, swept: txid } satisfies Spendable }]);
        this.o.log.info({ txid, outputs: descs.length }, 'closed channel outputs swept to the wallet');
      } catch (err) {
        // A delayed output (a force close's to_local) is not spendable before its CSV: the next block tries again.
        this.o.log.debug({ reason: (err as Error).message }, 'sweep not made yet; the next block tries again');
      }
    }
  }
}
