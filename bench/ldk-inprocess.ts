// The baseline of the ldk bench: two LDK nodes in this one process, built from the same modules anyad's ldk backend
// runs (src/adapters/lightning/ldk/node.ts: the same ChannelManager, ChainMonitor, PeerManager over TCP, background
// rounds, and monitors written synced to LevelDB before LDK is told), following the same bcoin regtest node, with a
// channel between them funded here. Payments are driven by calling the ChannelManager directly: no anyad, no RPC,
// no records or events of the lightning room. What anyad adds on top of LDK is the ratio against this.

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as bitcoin from 'bitcoinjs-lib';
import * as ldk from 'lightningdevkit';
import pino from 'pino';
import type { BitcoinApi } from '../src/adapters/bitcoin/api.js';
import { LdkNode } from '../src/adapters/lightning/ldk/node.js';
import { hex } from '../src/adapters/lightning/ldk/wasm.js';
import { Store } from '../src/store/store.js';
import { fund, newWallet, type BcoinNode } from '../test/helpers/bcoin.js';

/** What LdkNode reads of the bitcoin room, answered straight from the bcoin node's RPC. */
function chainOf(node: BcoinNode): BitcoinApi {
  const api: Pick<BitcoinApi, 'rawBlock' | 'blockHash' | 'coreEstimate' | 'broadcast'> = {
    rawBlock: (hash) => node.rpc<string>('getblock', hash, false),
    blockHash: (height) => node.rpc<string>('getblockhash', height),
    coreEstimate: () => Promise.resolve(null),
    broadcast: (txHex) => node.rpc<string>('sendrawtransaction', txHex),
  };
  return api as BitcoinApi;
}

const tipOf = async (node: BcoinNode): Promise<{ height: number; hash: string }> => ({
  height: await node.rpc<number>('getblockcount'),
  hash: await node.rpc<string>('getbestblockhash'),
});

async function until(what: string, f: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`ldk baseline: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface InProcessPair {
  /** One payment of `amountMsat` from A to B: B's invoice, A's send_payment, until A has PaymentSent and B PaymentClaimed. */
  pay(amountMsat: number): Promise<void>;
  close(): Promise<void>;
}

/** Two nodes, connected, with a channel of `capacitySat` from A to B confirmed and usable on both sides. */
export async function inProcessPair(node: BcoinNode, capacitySat: number): Promise<InProcessPair> {
  const dir = await mkdtemp(join(tmpdir(), 'anya-bench-ldk-'));
  const log = pino({ level: 'warn' });
  const chain = chainOf(node);
  const sent = new Map<string, () => void>();
  const claimed = new Map<string, () => void>();
  const stores: Store[] = [];
  const nodes: LdkNode[] = [];
  const wallet = newWallet();
  const coin = await fund(node, wallet);

  const make = async (name: string, onEvent: (e: ldk.Event) => void): Promise<LdkNode> => {
    const store = await Store.open(join(dir, name));
    stores.push(store);
    const n = await LdkNode.start(
      {
        seed: randomBytes(32),
        db: await store.room('lightning'),
        store,
        chain,
        network: 'regtest',
        log,
        host: '127.0.0.1',
        port: 0,
        fallbackFeeSatKw: 1000,
        onEvent,
      },
      await tipOf(node),
    );
    nodes.push(n);
    return n;
  };
  const a: LdkNode = await make('a', (e) => {
    if (e instanceof ldk.Event_FundingGenerationReady) {
      // The coinbase mined to this process's key: the channel's output and the change back to it.
      const psbt = new bitcoin.Psbt({ network: bitcoin.networks.regtest });
      psbt.addInput({ hash: coin.txid, index: coin.vout, witnessUtxo: { script: wallet.script, value: coin.value } });
      psbt.addOutput({ script: Uint8Array.from(e.output_script), value: e.channel_value_satoshis });
      psbt.addOutput({ script: wallet.script, value: coin.value - e.channel_value_satoshis - 2_000n });
      psbt.signInput(0, wallet.key);
      psbt.finalizeAllInputs();
      const r = a.cm.funding_transaction_generated(e.temporary_channel_id, e.counterparty_node_id, psbt.extractTransaction().toBuffer());
      if (!r.is_ok()) throw new Error('ldk baseline: LDK refused the funding');
    } else if (e instanceof ldk.Event_PaymentSent) sent.get(hex(e.payment_hash))?.();
    else if (e instanceof ldk.Event_PaymentFailed) throw new Error('ldk baseline: a payment failed');
  });
  const b = await make('b', (e) => {
    if (e instanceof ldk.Event_PaymentClaimable) {
      const pre = e.purpose.preimage();
      if (pre instanceof ldk.Option_ThirtyTwoBytesZ_Some) b.cm.claim_funds(pre.some);
    } else if (e instanceof ldk.Event_PaymentClaimed) claimed.get(hex(e.payment_hash))?.();
  });
  const bId = Buffer.from(b.nodeId, 'hex');
  await a.net.connect(bId, '127.0.0.1', b.port, 5_000);
  await until('the peers connected', () => a.pm.list_peers().length === 1 && b.pm.list_peers().length === 1);
  // User channel id 0: lightningdevkit 0.1.0 reads a u128 back byte-reversed (see ldk/channels.ts), and 0 is 0 both ways.
  const r = a.cm.create_channel(bId, BigInt(capacitySat), 0n, 0n, null, null);
  if (!r.is_ok()) throw new Error('ldk baseline: LDK refused the channel');
  void a.kick();
  await until('the funding in the mempool', async () => (await node.rpc<string[]>('getrawmempool')).length > 0);
  await node.mine(6);
  const tip = await tipOf(node);
  await Promise.all([a.follow(tip), b.follow(tip)]);
  await until('the channel usable on both sides', () => a.cm.list_usable_channels().length === 1 && b.cm.list_usable_channels().length === 1);

  return {
    pay: async (amountMsat) => {
      const inv = b.cm.create_bolt11_invoice(
        ldk.Option_u64Z.constructor_some(BigInt(amountMsat)),
        ldk.Bolt11InvoiceDescription.constructor_direct((ldk.Description.constructor_new('bench') as ldk.Result_DescriptionCreationErrorZ_OK).res),
        ldk.Option_u32Z.constructor_some(3600),
        ldk.Option_u16Z.constructor_none(),
        ldk.Option_ThirtyTwoBytesZ.constructor_none(),
      );
      if (!(inv instanceof ldk.Result_Bolt11InvoiceSignOrCreationErrorZ_OK)) throw new Error('ldk baseline: no invoice');
      const params = ldk.UtilMethods.constructor_payment_parameters_from_invoice(inv.res);
      if (!(params instanceof ldk.Result_C3Tuple_ThirtyTwoBytesRecipientOnionFieldsRouteParametersZNoneZ_OK)) throw new Error('ldk baseline: no parameters');
      const hash = params.res.get_a();
      const key = hex(hash);
      const done = Promise.all([new Promise<void>((r) => sent.set(key, r)), new Promise<void>((r) => claimed.set(key, r))]);
      const s = a.cm.send_payment(hash, params.res.get_b(), hash, params.res.get_c(), ldk.Retry.constructor_attempts(3));
      if (!s.is_ok()) throw new Error('ldk baseline: LDK did not send the payment');
      void a.kick();
      await done;
      sent.delete(key);
      claimed.delete(key);
    },
    close: async () => {
      for (const n of nodes) await n.close();
      for (const s of stores) await s.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
