// Spending the wallet's coins: funding a PSBT (coins chosen and promised to a holder in the wallet's critical
// section, change to the change chain), signing it through the HSM under its policy and broadcasting it, and the
// coins another room's funding takes (WalletApi.reserveCoins) or its caller hand-picked (reserveOutpoints). The fee
// rate comes from the call, the node's estimate or wallet.fallbackfee.

import type * as bitcoin from 'bitcoinjs-lib';
import { rpcError } from '../core/errors.js';
import type { BatchOp } from '../core/store.js';
import type { Derived } from './keys.js';
import { outpointOf, type Coin } from './ledger.js';
import type { FundOptions, WalletService } from './service.js';
import { buildPsbt, pickCoins, select, type Funded, type WatchChange } from './spend.js';

export async function feeRate(svc: WalletService, given: number | undefined, target: number): Promise<number> {
  if (given !== undefined) return given;
  const est = await svc.settings.chain.coreEstimate(target).catch(() => null);
  if (est !== null) return est;
  if (svc.settings.fallbackFeeRate > 0) return svc.settings.fallbackFeeRate;
  throw rpcError('InvalidParams', `the node has no fee estimate for ${target} blocks and wallet.fallbackfee is 0: give fee_rate (sat/vB)`);
}

/** Chooses coins, promises them to the holder and answers the PSBT: one critical section with every other spend. */
export async function fund(svc: WalletService, o: FundOptions): Promise<Funded & { reserved_until: number }> {
  const rate = await feeRate(svc, o.fee_rate, o.conf_target);
  await svc.accounts();
  const keys = svc.changeKeys();
  return svc.exclusive(async () => {
    const ops: BatchOp[] = [];
    const watchonly = o.watchonly ?? false;
    let candidates = svc.spendable(o.holder, false, watchonly);
    const want = o.outputs.reduce((s, x) => s + x.amount_sat, 0);
    if (o.inputs || candidates.reduce((s, c) => s + c.value_sat, 0) < want * 1.1 + 100_000) candidates = svc.spendable(o.holder, true, watchonly);
    if (o.inputs) {
      const free = new Map(candidates.map((c) => [outpointOf(c.txid, c.vout), c]));
      candidates = o.inputs.map((i, n) => {
        const op = outpointOf(i.txid, i.vout);
        const c = free.get(op);
        if (c) return c;
        const coin = svc.ledger.coins.get(op);
        const held = svc.reservations.of(op);
        const why = !coin
          ? 'is not an unspent coin of this wallet'
          : (coin.watch !== undefined) !== watchonly
            ? watchonly
              ? 'is not a watch-only coin (watchonly funds from imported descriptors only)'
              : 'is watch-only: fund it with watchonly true and sign it where its keys are'
            : held && held.holder !== o.holder
              ? `is promised to ${held.holder}`
              : 'is not spendable yet (immature, or unconfirmed and not from a transaction of ours)';
        throw rpcError(coin && (coin.watch !== undefined) === watchonly ? 'Conflict' : 'InvalidParams', `inputs[${n}] ${op} ${why}`);
      });
    }
    const req = {
      outputs: o.outputs,
      feeRate: rate,
      subtractFrom: o.subtract_fee_from_outputs,
      replaceable: o.replaceable,
      candidates,
      only: o.inputs !== undefined,
      maxFee: svc.settings.maxFeeSat,
      tipHeight: svc.tip(),
    };
    const sel = select(req, svc.settings.network);
    // A watch-only PSBT's change goes to the spending keys' imported change chain when there is one, else the seed's.
    const change = (): Derived | WatchChange => (watchonly ? svc.watched.takeChange(sel.inputs, ops) : undefined) ?? svc.takeChange(ops);
    const prev = await previousTransactions(
      svc,
      sel.inputs.filter((c) => c.type === 'wpkh' || c.watch !== undefined),
    );
    const funded = buildPsbt(sel, req, svc.settings.network, {
      change,
      origin: (c) => svc.derived(c),
      fingerprint: keys.fingerprint,
      prevTx: (t) => prev.get(t),
      watched: (c) => svc.watched.output(c).output,
    });
    const r = svc.reservations.take(
      funded.inputs.map((c) => outpointOf(c.txid, c.vout)),
      o.holder,
      o.reserveMs ?? svc.settings.reserveMs,
      ops,
    );
    await svc.settings.store.batch(ops);
    return { ...funded, reserved_until: r.expires_at };
  });
}

/** The transactions that made these coins (raw), for the inputs' non_witness_utxo. */
export async function previousTransactions(svc: WalletService, coins: Coin[]): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const c of coins) {
    if (out.has(c.txid)) continue;
    // Our own sends are kept raw; others come from the node once, then from a cache bounded in bytes.
    const t = svc.ledger.txs.get(c.txid);
    let raw = t?.hex ? Buffer.from(t.hex, 'hex') : svc.prevTxs.get(c.txid);
    if (!raw) {
      raw = Buffer.from(await svc.settings.chain.rawTransaction(c.txid, t?.block_hash ?? undefined), 'hex');
      svc.prevTxs.set(c.txid, raw);
    }
    out.set(c.txid, raw);
  }
  return out;
}

/** Funds, signs through the HSM (its policy decides), broadcasts, and records the transaction as ours at once. */
export async function send(svc: WalletService, o: FundOptions, caller: string): Promise<{ txid: string; fee_sat: number; hex: string }> {
  const funded = await fund(svc, o);
  const { txid, hex } = await signAndBroadcast(svc, funded.psbt, o.holder, caller, 'the wallet transaction');
  return { txid, fee_sat: funded.fee_sat, hex };
}

/**
 * Signs a PSBT of the wallet through the HSM (its policy decides), broadcasts it and records it as ours at once;
 * on any failure the coins promised to `holder` are given back.
 */
export async function signAndBroadcast(
  svc: WalletService,
  psbt: bitcoin.Psbt,
  holder: string,
  caller: string,
  what: string,
): Promise<{ txid: string; hex: string }> {
  try {
    const signed = await svc.settings.hsm.signPsbt(psbt.toBase64(), caller);
    const fin = await svc.settings.chain.finalizePsbt(signed.psbt);
    if (!fin.complete || !fin.hex)
      throw rpcError('PolicyDenied', 'the HSM did not sign every input of the transaction', { rule: 'incomplete', signed: signed.signed });
    const txid = await svc.settings.chain.broadcast(fin.hex, what);
    await svc.record(fin.hex);
    return { txid, hex: fin.hex };
  } catch (err) {
    await svc.release(undefined, holder);
    throw err;
  }
}

/** WalletApi.reserveCoins: coins for another room's transaction (a DLC's or a channel's funding), promised to it. */
export async function reserveCoins(
  svc: WalletService,
  req: { amount_sat: number; fee_rate: number; holder: string; reserve_sec: number },
): Promise<{ coins: Coin[]; change: Derived }> {
  await svc.accounts();
  return svc.exclusive(async () => {
    // P2WPKH only: what another room's funding PSBT and a DLC input's max_witness_len are made for.
    const candidates = svc.spendable(req.holder).filter((c) => c.type === 'wpkh');
    // The funding output is a P2WSH (43 vB); the other room adds its own outputs' weight to its fee.
    const chosen = pickCoins(candidates, req.amount_sat, req.fee_rate);
    if (!chosen) {
      const total = candidates.reduce((s, c) => s + c.value_sat, 0);
      throw rpcError('InvalidParams', `insufficient funds: ${req.amount_sat} sat needed at ${req.fee_rate} sat/vB, ${total} sat available in the wallet`, {
        available_sat: total,
        amount_sat: req.amount_sat,
      });
    }
    const ops: BatchOp[] = [];
    svc.reservations.take(
      chosen.map((c) => outpointOf(c.txid, c.vout)),
      req.holder,
      req.reserve_sec * 1000,
      ops,
    );
    const change = svc.takeChange(ops);
    await svc.settings.store.batch(ops);
    return { coins: chosen, change };
  });
}

/**
 * WalletApi.reserveOutpoints: coins another room's caller hand-picked (a DLC's or a channel's `utxos`), promised to
 * its holder in the same critical section as every choice of coins, so neither a wallet spend nor another room
 * takes them. A coin the wallet does not own is promised too: two rooms never take the same foreign coin.
 */
export async function reserveOutpoints(svc: WalletService, req: { outpoints: string[]; holder: string; reserve_sec: number }): Promise<void> {
  const outpoints = [...new Set(req.outpoints.map((o) => o.toLowerCase()))];
  for (const o of outpoints) if (!/^[0-9a-f]{64}:[0-9]{1,6}$/.test(o)) throw rpcError('InvalidParams', `${o} is not an outpoint (txid:vout)`);
  if (!(req.reserve_sec > 0)) throw rpcError('InvalidParams', `reserve_sec ${req.reserve_sec} must be positive`);
  await svc.exclusive(async () => {
    const now = Date.now();
    for (const o of outpoints) {
      const r = svc.reservations.of(o, now);
      if (r && r.holder !== req.holder)
        throw rpcError('Conflict', `coin ${o} is promised to ${r.holder} until ${new Date(r.expires_at).toISOString()}`, { outpoint: o, holder: r.holder });
      // The caller saw it unspent before taking this lock; a wallet send may have spent it since.
      const spender = svc.ledger.pendingSpenderOf(o);
      if (spender) throw rpcError('Conflict', `coin ${o} is spent by the wallet's transaction ${spender}`, { outpoint: o, txid: spender });
    }
    const ops: BatchOp[] = [];
    svc.reservations.take(outpoints, req.holder, req.reserve_sec * 1000, ops, now);
    await svc.settings.store.batch(ops);
  });
}

/** What another room's PSBT input needs of each coin: the transaction that made it and the key origin. */
export async function inputDetails(
  svc: WalletService,
  coins: Coin[],
): Promise<Array<{ prev_tx: string; origin: { fingerprint: string; path: string; pubkey: string } }>> {
  const prev = await previousTransactions(svc, coins);
  const fingerprint = svc.changeKeys().fingerprint.toString('hex'); // one master: every account shares it
  return coins.map((c) => {
    const d = svc.derived(c);
    return { prev_tx: prev.get(c.txid)!.toString('hex'), origin: { fingerprint, path: d.path, pubkey: d.pubkey.toString('hex') } };
  });
}
