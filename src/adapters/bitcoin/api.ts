// What other rooms may use of the bitcoin room (declared in their `requires`): its api and the handle that names it.

import { Type, type Static } from '@sinclair/typebox';
import { defineTopic } from '../../core/events.js';
import { roomApi } from '../../core/room.js';
import type { BatchOp } from '../../core/store.js';
import type { VerboseBlock, VerboseTx } from './backend.js';
import type { chainCreatepsbt, chainFinalizepsbt } from './declarations.js';

export type { VerboseBlock, VerboseTx };

/** What ml.estimatefee's features are made of: the mempool and the recent blocks, at a target. */
export interface FeeSnapshot {
  mempool_vsize: number;
  fee_histogram: Array<[number, number]>;
  recent_block_feerates: number[];
  seconds_since_last_block: number;
  target: number;
  height: number;
  sample: Array<{ txid: string; feerate: number }>;
}

/** What other rooms may use of the bitcoin room. */
export interface BitcoinApi {
  connected(): boolean;
  feeSnapshot(target: number): Promise<FeeSnapshot>;
  blockTxids(hash: string): Promise<string[]>;
  /** A block as bitcoind serialises it (hex): every transaction, for a room that looks for spends itself. */
  rawBlock(hash: string): Promise<string>;
  /** sendrawtransaction; the node's refusal as BackendRejected naming `what` and the node's reason. */
  broadcast(txHex: string, what: string): Promise<string>;
  /** bitcoind's estimatesmartfee for the target, sat/vB, or null where it has none. */
  coreEstimate(target: number): Promise<number | null>;
  /**
   * Chain notifications for a room (LND's chainntnfs, LDK's Confirm): its handlers, registered once when it opens;
   * what happened to its registrations while it was not listening is delivered then. The answer registers spends
   * and confirmations under the room's own ids; registrations and what the room was told survive restarts.
   */
  notifications(room: string, handlers: ChainHandlers): ChainNotifications;
  /**
   * An unspent output as bitcoind's gettxout has it (mempool spends count as spent), or null: for coins the watcher
   * cannot know, such as a counterparty's funding inputs.
   */
  utxo(txid: string, vout: number): Promise<Utxo | null>;
  /** A transaction the node knows (its mempool, or its chain where it keeps a transaction index), or undefined. */
  transaction(txid: string): Promise<{ hex: string; confirmations: number } | undefined>;
  /** A block's header: its height, time and median time past (BIP113, what a locktime is measured against). */
  header(hash: string): Promise<{ height: number; time: number; mediantime: number }>;
  /** The hash of the main chain's block at a height. */
  blockHash(height: number): Promise<string>;
  /**
   * Follows every block the watcher connects and every mempool transaction it sees, as LDK's Listen does: what the
   * listener writes goes into the watcher's own batch, so the listener's state moves with the watcher's tip, once
   * each, across restarts and reorgs. Blocks come in order; a reorg or resync first rewinds to the fork.
   */
  listen(listener: ChainListener): void;
  /** The watcher's tip (undefined before its first round). */
  tip(): { height: number; hash: string } | undefined;
  /** The node's best block as the watcher last read it: above tip() while it catches up (undefined before its first round). */
  best(): { height: number; hash: string } | undefined;
  /**
   * A transaction's raw hex (getrawtransaction; with the block it is in, a node without -txindex finds it too), e.g.
   * the previous transaction a segwit v0 input's signer checks the amount in.
   */
  rawTransaction(txid: string, blockHash?: string): Promise<string>;
  /** A raw transaction (hex) in the shape the watcher gives (VerboseTx; values in BTC as the node gives them). */
  decode(hex: string): VerboseTx;
  /** A block in full (getblock verbosity 2), for a rescan. */
  block(hash: string): Promise<VerboseBlock>;
  /**
   * What the node's mempool holds of a transaction (getmempoolentry): its virtual size and fee in satoshis, or null
   * when it is not in the mempool (confirmed, evicted, never seen). For a fee bump by a child (CPFP).
   */
  mempoolEntry(txid: string): Promise<{ vsize: number; fee_sat: number } | null>;
  /** Which node answers (ChainBackend.kind): Core has estimatesmartfee to compare with, bcoin not. Undefined before the first connection. */
  nodeKind(): 'core' | 'bcoin' | undefined;
  /** chain.createpsbt: inputs (their amounts looked up) and outputs to an unsigned PSBT. */
  createPsbt(p: Static<(typeof chainCreatepsbt)['params']>): Promise<Static<(typeof chainCreatepsbt)['result']>>;
  /** chain.finalizepsbt: a signed PSBT to its transaction (hex) when complete. */
  finalizePsbt(base64: string): Promise<Static<(typeof chainFinalizepsbt)['result']>>;
}

/** What a room following the chain writes for one step, and what it does once that is durable. */
export interface ListenerWrite {
  ops: BatchOp[];
  after?(): void;
}

export interface ChainListener {
  /** A block connected on top of the last one. */
  connected(block: VerboseBlock): ListenerWrite | undefined | Promise<ListenerWrite | undefined>;
  /** Every block above `tip` left the main chain (a reorg or a resync): undo what they did. */
  rewound(tip: { height: number; hash: string }): ListenerWrite | undefined | Promise<ListenerWrite | undefined>;
  /** A transaction entered the mempool (seen once per transaction while it stays there). */
  mempool?(tx: VerboseTx): ListenerWrite | undefined | Promise<ListenerWrite | undefined>;
  /**
   * Transactions the watcher had seen in the mempool are no longer there (getrawmempool no longer lists them): mined,
   * evicted, expired or replaced. Called after the round's blocks are connected, so a transaction mined in one of
   * them was handed to `connected` first; one mined in a block the node found after that poll comes here first and
   * in `connected` at the next round.
   */
  mempoolLeft?(txids: string[]): ListenerWrite | undefined | Promise<ListenerWrite | undefined>;
  /** Whether the listener needs full blocks and the mempool now (a listener without it always does). */
  active?(): boolean;
}

export interface Utxo {
  value_sat: number;
  /** The output script, hex. */
  script: string;
  /** 0 while the transaction that made it is in the mempool. */
  confirmations: number;
}

/** The outpoint a room registered was spent: in the mempool (height null) or in a block. */
export interface SpendEvent {
  id: string;
  outpoint: string;
  txid: string;
  /** The spending transaction, serialised. */
  hex: string;
  height: number | null;
  block_hash: string | null;
}

/** A transaction a room registered reached its depth. */
export interface ConfirmEvent {
  id: string;
  txid: string;
  height: number;
  block_hash: string;
  confirmations: number;
}

/** A spend or confirmation the room was told of left the main chain (a reorg). */
export interface ReorgEvent {
  id: string;
  kind: 'spend' | 'confirm';
  outpoint?: string;
  /** The spending transaction (spend) or the registered one (confirm). */
  txid: string;
  height: number;
  block_hash: string;
}

/** A room's handlers: each event is delivered once (again after a restart only if its handler had not finished). */
export interface ChainHandlers {
  spent?(e: SpendEvent): void | Promise<void>;
  confirmed?(e: ConfirmEvent): void | Promise<void>;
  reorged?(e: ReorgEvent): void | Promise<void>;
}

/** What a room registers, under its own ids (a contract, a channel). Registering again is harmless. */
export interface ChainNotifications {
  watchSpend(w: { outpoint: string; id: string }): Promise<void>;
  watchConfirm(w: { txid: string; depth: number; id: string }): Promise<void>;
  /** Every registration under `id` goes. */
  forget(id: string): Promise<void>;
  /** The spend of a registered outpoint as the bitcoin room knows it now (told or not yet), or undefined. */
  spendOf(w: { outpoint: string; id: string }): SpendEvent | undefined;
}

/** The handle a room lists in `requires` and passes to `ctx.use` for the bitcoin room's api. */
export const BITCOIN = roomApi<BitcoinApi>('bitcoin');

const Block = Type.Object({ height: Type.Integer(), hash: Type.String() });

// The chain's events, which other rooms listen to.
export const CHAIN_BLOCK = defineTopic({
  name: 'chain.block',
  summary: 'A block was connected to the chain anyad follows (in order; after a reorg, the new branch).',
  data: Type.Object({
    height: Type.Integer(),
    hash: Type.String(),
    previous: Type.Union([Type.String(), Type.Null()]),
    time: Type.Integer(),
    tx_count: Type.Integer(),
  }),
});

export const CHAIN_DISCONNECTED = defineTopic({
  name: 'chain.disconnected',
  summary: "A block was removed by a reorg (newest first, before the new branch's chain.block events).",
  data: Block,
});

export const CHAIN_REORG = defineTopic({
  name: 'chain.reorg',
  summary: 'A reorg: the fork point and the blocks it removed.',
  data: Type.Object({ fork_height: Type.Integer(), fork_hash: Type.String(), disconnected: Type.Array(Block) }),
});

export const CHAIN_RESYNC = defineTopic({
  name: 'chain.resync',
  summary:
    'A reorg deeper than bitcoind.reorgwindow: the watcher starts again from the oldest block it knew; the blocks from there are reported again, and the watched transactions no longer in the main chain are listed (each also gets chain.tx reorged).',
  data: Type.Object({ reason: Type.String(), from: Block, to: Block, reorged: Type.Array(Type.String()) }),
});

export const CHAIN_TX = defineTopic({
  name: 'chain.tx',
  summary: 'A watched transaction: status mempool, confirmed, deep (bitcoind.confirmations reached) or reorged; spends lists watched outpoints it spends.',
  data: Type.Object(
    {
      txid: Type.String(),
      watches: Type.Array(Type.String()),
      spends: Type.Array(Type.String()),
      status: Type.String(),
      confirmations: Type.Integer(),
      height: Type.Optional(Type.Integer({ description: 'The block that confirmed it (confirmed, deep).' })),
      block_hash: Type.Optional(Type.String()),
      disconnected_block: Type.Optional(Type.String({ description: 'The block a reorg took it out of (reorged).' })),
    },
    { additionalProperties: true },
  ),
});
