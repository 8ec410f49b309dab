// chain.* methods: what anyad knows of the chain, bitcoind's blocks and transactions, broadcast with a local sanity
// check first, fee estimates in sat/vB, mempool figures, and the watch list.

import type { Static } from '@sinclair/typebox';
import * as bitcoin from 'bitcoinjs-lib';
import { bitcoinNetwork } from '../../core/bitcoin-network.js';
import type { Network } from '../../core/options.js';
import { rpcError } from '../../core/errors.js';
import { implement, roleAllows, type MethodSpec } from '../../core/methods.js';
import { toRpcError } from './client.js';
import * as D from './declarations.js';
import { BlockT, HeaderT, MAX_MONEY_SAT, TxT } from './declarations.js';
import { createPsbt, finalizePsbt } from './psbt.js';
import type { BitcoinService } from './service.js';

export function chainMethods(svc: BitcoinService, network: string): MethodSpec[] {
  /** Calls bitcoind, or answers BackendUnavailable at once when it is not connected; bitcoind's errors as they are. */
  const raw = <T>(method: string, ...params: unknown[]): Promise<T> => svc.nodeCall<T>(method, ...params);
  /** The same, with bitcoind's errors mapped to the caller's codes. */
  const call = async <T>(method: string, ...params: unknown[]): Promise<T> => {
    try {
      return await raw<T>(method, ...params);
    } catch (err) {
      throw toRpcError(err);
    }
  };
  const backend = () => {
    if (svc.state !== 'connected' || !svc.backend)
      throw rpcError('BackendUnavailable', `bitcoind is not connected: ${svc.health().detail}`, { service: 'bitcoind', state: svc.state });
    return svc.backend;
  };

  return [
    implement(D.chainGetinfo, async () => {
      let info = svc.chainInfo;
      if (svc.state === 'connected') info = await call<typeof info>('getblockchaininfo').catch(() => info);
      const tip = svc.watcher.tip;
      return {
        state: svc.state,
        detail: svc.health().detail,
        network,
        backend: svc.backend ? { kind: svc.backend.kind, version: svc.backend.version, subversion: svc.backend.subversion } : null,
        mode: svc.mode(),
        blocks: info?.blocks ?? null,
        headers: info?.headers ?? null,
        verification_progress: info?.verificationprogress ?? null,
        processed_height: tip?.height ?? null,
        processed_hash: tip?.hash ?? null,
        catching_up: info !== undefined && tip !== undefined && tip.height < info.blocks,
        watches: svc.watches.size(),
      };
    }),
    implement(D.chainGetblock, async ({ block, verbosity }) => {
      const hash = typeof block === 'number' ? await call<string>('getblockhash', block) : block;
      try {
        // The node's own shape, passed through (rpccheckresults checks it against BlockT in the tests).
        return (await backend().getBlock(hash, verbosity)) as Static<typeof BlockT>;
      } catch (err) {
        throw toRpcError(err);
      }
    }),
    implement(D.chainGetblockheader, async ({ hash }) => {
      try {
        return (await backend().getBlockHeader(hash)) as Static<typeof HeaderT>;
      } catch (err) {
        throw toRpcError(err);
      }
    }),
    implement(D.chainGettx, async ({ txid }) => {
      const tx = await call<Static<typeof TxT>>('getrawtransaction', txid, true);
      const watched = await svc.watcher.watchedTx(txid);
      return watched ? { ...tx, anya_watch: watched } : tx;
    }),
    implement(D.chainBroadcast, async ({ hex }) => {
      let tx: bitcoin.Transaction;
      try {
        tx = bitcoin.Transaction.fromHex(hex);
      } catch (err) {
        throw rpcError('InvalidParams', `not a valid transaction: ${(err as Error).message}`);
      }
      if (tx.ins.length === 0) throw rpcError('InvalidParams', 'transaction has no inputs');
      if (tx.outs.length === 0) throw rpcError('InvalidParams', 'transaction has no outputs');
      const seen = new Set<string>();
      for (const i of tx.ins) {
        const op = `${Buffer.from(i.hash).reverse().toString('hex')}:${i.index}`;
        if (seen.has(op)) throw rpcError('InvalidParams', `transaction spends ${op} twice`);
        seen.add(op);
      }
      let total = 0n;
      for (const o of tx.outs) {
        const v = BigInt(o.value);
        if (v < 0n || v > BigInt(MAX_MONEY_SAT)) throw rpcError('InvalidParams', `output value ${v} sat is out of range`);
        total += v;
      }
      if (total > BigInt(MAX_MONEY_SAT)) throw rpcError('InvalidParams', 'outputs add up to more than 21 million BTC');
      return { txid: await svc.broadcast(hex) };
    }),
    implement(D.chainCreatepsbt, (p) => createPsbt(p, bitcoinNetwork(network as Network), call)),
    implement(D.chainFinalizepsbt, ({ psbt }) => finalizePsbt(psbt, bitcoinNetwork(network as Network))),
    implement(D.chainGenerate, async ({ nblocks, address }) => {
      if (network !== 'regtest') throw rpcError('Unsupported', `chain.generate mines on regtest only (this is ${network})`);
      try {
        bitcoin.address.toOutputScript(address, bitcoin.networks.regtest);
      } catch {
        throw rpcError('InvalidParams', `address: not a regtest address: ${address.slice(0, 100)}`, { field: 'address' });
      }
      return { address, blocks: await call<string[]>('generatetoaddress', nblocks, address) };
    }),
    implement(D.chainEstimatefee, async ({ targets }) => {
      const b = backend();
      try {
        return { source: 'estimatesmartfee' as const, estimates: await Promise.all(targets.map((t) => b.estimateSmartFee(t))) };
      } catch (err) {
        throw toRpcError(err);
      }
    }),
    implement(D.chainMempoolinfo, async () => {
      const m = await call<{ size: number; bytes: number; usage: number; mempoolminfee?: number }>('getmempoolinfo');
      return {
        size: m.size,
        bytes: m.bytes,
        usage: m.usage,
        min_fee_sat_per_vb: m.mempoolminfee === undefined ? null : Math.round(((m.mempoolminfee * 1e8) / 1000) * 1000) / 1000,
      };
    }),
    implement(D.chainWatch, (p, ctx) => svc.watches.add(p, ctx.connection.user ?? 'unknown')),
    implement(D.chainUnwatch, async ({ id }, ctx) => {
      if (!(await svc.watches.remove(id, ctx.connection.user ?? 'unknown', roleAllows(ctx.role, 'admin')))) throw rpcError('NotFound', `no watch ${id}`);
      return true;
    }),
    implement(D.chainListwatches, ({ limit, offset }) => svc.watches.list().slice(offset, offset + limit)),
  ];
}
