// Raising the fee of an unconfirmed transaction. wallet.bumpfee replaces one of ours (BIP125, as Bitcoin Core's
// bumpfee / feebumper.cpp): the original must signal replaceability, spend only our coins, be unconfirmed and have
// no unconfirmed child in the wallet; the replacement pays the same recipients the same amounts from the same
// inputs, a higher fee rate, and an absolute fee of at least the original's plus the incremental relay fee times
// its own size (BIP125 rules 3 and 4); the fee comes out of our change, and a wallet coin is added when the change
// cannot pay it. wallet.cpfp spends our outputs of an unconfirmed transaction (a payment to us) to our change
// chain with a fee that brings parent and child together to the rate asked (child pays for parent: miners choose
// by the package's rate). Both sign through the HSM under its policy and broadcast; the ledger then marks the
// original replaced (ledger.ts) or records the child.

import { randomBytes } from 'node:crypto';
import * as bitcoin from 'bitcoinjs-lib';
import { rpcError } from '../core/errors.js';
import type { BatchOp } from '../core/store.js';
import { feeRate, previousTransactions, signAndBroadcast } from './funding.js';
import type { Derived } from './keys.js';
import { outpointOf, type Coin, type WalletTx } from './ledger.js';
import type { WalletService } from './service.js';
import { buildPsbt, dustThreshold, estimateVsize, type Selection } from './spend.js';

/** Core's -incrementalrelayfee default, sat/vB: what a replacement pays on top of the original, per vB of its own. */
export const INCREMENTAL_RELAY_FEE = 1;
/** BIP125: an input with nSequence below this signals replaceability. */
const RBF_SEQUENCE_BELOW = 0xfffffffe;

const holderOf = (kind: string, txid: string): string => `${kind}:${txid.slice(0, 16)}:${randomBytes(4).toString('hex')}`;
const rate2 = (fee: number, vsize: number): number => Math.round((fee / vsize) * 100) / 100;

/** Why `t` cannot be replaced by the wallet, as Core's feebumper PreconditionChecks says it, or undefined. */
function bumpRefusal(svc: WalletService, t: WalletTx | undefined, txid: string): { code: 'InvalidParams' | 'Conflict'; message: string } | undefined {
  if (!t) return { code: 'InvalidParams', message: `${txid} is not a transaction of this wallet` };
  if (t.status === 'replaced') return { code: 'Conflict', message: `${txid} was replaced already (by ${t.replaced_by ?? 'another transaction'})` };
  if (t.status === 'confirmed')
    return { code: 'Conflict', message: `${txid} is confirmed (height ${t.height}): only an unconfirmed transaction can be bumped` };
  if (t.status !== 'pending') return { code: 'Conflict', message: `${txid} is ${t.status}: only an unconfirmed transaction can be bumped` };
  if (t.spent.length === 0 || t.fee_sat === null)
    return { code: 'InvalidParams', message: `${txid} spends inputs that are not this wallet's: raise the fee of a payment to us with wallet.cpfp` };
  if (t.spent.some((c) => c.watch !== undefined))
    return { code: 'InvalidParams', message: `${txid} spends watch-only coins: their key holders sign its replacement, not this wallet` };
  for (const v of t.outputs) {
    const child = svc.ledger.spenderOf(outpointOf(txid, v));
    if (child) return { code: 'Conflict', message: `${txid} has an unconfirmed child in the wallet (${child}): bump that one instead` };
  }
  return undefined;
}

export interface BumpResult {
  txid: string;
  original_txid: string;
  original_fee_sat: number;
  original_fee_rate: number;
  fee_sat: number;
  fee_rate: number;
}

/** wallet.bumpfee: the replacement is funded, promised, signed and broadcast; errors name the fee figures. */
export async function bumpFee(svc: WalletService, txid: string, givenRate: number | undefined, caller: string): Promise<BumpResult> {
  await svc.accounts();
  const holder = holderOf('bump', txid);
  const plan = await svc.exclusive(async () => {
    const t = svc.ledger.txs.get(txid);
    const refusal = bumpRefusal(svc, t, txid);
    if (refusal || !t) throw rpcError(refusal!.code, refusal!.message);
    const hex = t.hex ?? (await svc.settings.chain.rawTransaction(txid));
    const orig = bitcoin.Transaction.fromHex(hex);
    if (!orig.ins.some((i) => i.sequence < RBF_SEQUENCE_BELOW))
      throw rpcError('InvalidParams', `${txid} does not signal BIP125 replaceability (no input has nSequence below 0xfffffffe)`);
    const oldFee = t.fee_sat!;
    const oldVsize = orig.virtualSize();
    const oldRate = oldFee / oldVsize;
    const estimate = givenRate === undefined ? await feeRate(svc, undefined, 6).catch(() => 0) : 0;
    const rate = givenRate ?? Math.max(estimate, Math.ceil(oldRate) + INCREMENTAL_RELAY_FEE);
    if (rate <= oldRate)
      throw rpcError(
        'InvalidParams',
        `a fee rate of ${rate} sat/vB is not higher than the original's ${rate2(oldFee, oldVsize)} sat/vB (${oldFee} sat over ${oldVsize} vB)`,
        {
          original_fee_sat: oldFee,
          original_vsize: oldVsize,
        },
      );
    const ops: BatchOp[] = [];
    const sel = replacementSelection(svc, t, orig, rate, oldFee, holder);
    if (sel.fee_sat > svc.settings.maxFeeSat)
      throw rpcError('PolicyDenied', `the replacement's fee ${sel.fee_sat} sat is over wallet.maxtxfee (${svc.settings.maxFeeSat} sat)`, {
        rule: 'maxtxfee',
        fee_sat: sel.fee_sat,
        max_sat: svc.settings.maxFeeSat,
      });
    for (const c of sel.inputs) {
      const r = svc.reservations.of(outpointOf(c.txid, c.vout));
      if (r && r.holder !== holder) throw rpcError('Conflict', `${outpointOf(c.txid, c.vout)} is promised to ${r.holder}: a bump of ${txid} is under way?`);
    }
    const changeCoin = sel.changeCoin;
    const change = (): Derived => (changeCoin ? svc.derived(changeCoin) : svc.takeChange(ops));
    const prev = await previousTransactions(
      svc,
      sel.inputs.filter((c) => c.type === 'wpkh'),
    );
    const keys = svc.changeKeys();
    const funded = buildPsbt(sel, { replaceable: true, tipHeight: svc.tip() }, svc.settings.network, {
      change,
      origin: (c) => svc.derived(c),
      fingerprint: keys.fingerprint,
      prevTx: (x) => prev.get(x),
    });
    svc.reservations.take(
      sel.inputs.map((c) => outpointOf(c.txid, c.vout)),
      holder,
      svc.settings.reserveMs,
      ops,
    );
    await svc.settings.store.batch(ops);
    return { psbt: funded.psbt, fee: sel.fee_sat, vsize: sel.vsize, oldFee, oldVsize, rate };
  });
  const sent = await signAndBroadcast(svc, plan.psbt, holder, caller, `the fee bump of ${txid}`);
  return {
    txid: sent.txid,
    original_txid: txid,
    original_fee_sat: plan.oldFee,
    original_fee_rate: rate2(plan.oldFee, plan.oldVsize),
    fee_sat: plan.fee,
    fee_rate: rate2(plan.fee, bitcoin.Transaction.fromHex(sent.hex).virtualSize()),
  };
}

/**
 * The replacement's inputs, outputs and fee: the original's inputs and recipients; the fee at `rate` and at least
 * the original's plus the incremental relay fee per vB (BIP125 rule 4); from the change while it stays above dust,
 * else from added wallet coins (the largest first), a change output dropped when what is left would be dust.
 */
function replacementSelection(
  svc: WalletService,
  t: WalletTx,
  orig: bitcoin.Transaction,
  rate: number,
  oldFee: number,
  holder: string,
): Selection & { changeCoin: Coin | undefined; vsize: number } {
  const changeCoin = t.outputs.map((v) => svc.ledger.coins.get(outpointOf(t.txid, v))).find((c) => c !== undefined && c.chain === 1 && c.watch === undefined);
  const recipients = orig.outs.map((o, i) => ({ script: Buffer.from(o.script), value: Number(o.value), i })).filter((o) => o.i !== changeCoin?.vout);
  const scripts = recipients.map((o) => o.script);
  const amounts = recipients.map((o) => o.value);
  const owed = amounts.reduce((s, v) => s + v, 0);
  const inputs = [...t.spent];
  const extra = svc.spendable(holder).filter((c) => c.txid !== t.txid);
  const changeLen = changeCoin ? changeCoin.script.length / 2 : 22;
  const feeFor = (vsize: number): number => Math.max(Math.ceil(rate * vsize), oldFee + INCREMENTAL_RELAY_FEE * vsize);
  for (;;) {
    const inSum = inputs.reduce((s, c) => s + c.value_sat, 0);
    const withChange = estimateVsize(inputs, [...scripts.map((s) => s.length), changeLen]);
    const change = inSum - owed - feeFor(withChange);
    const changeScript = changeCoin ? Buffer.from(changeCoin.script, 'hex') : Buffer.alloc(22);
    if (change >= dustThreshold(changeScript))
      return { inputs, scripts, amounts, change_sat: change, fee_sat: feeFor(withChange), changeCoin, vsize: withChange };
    const without = estimateVsize(
      inputs,
      scripts.map((s) => s.length),
    );
    if (inSum - owed >= feeFor(without)) return { inputs, scripts, amounts, change_sat: 0, fee_sat: inSum - owed, changeCoin: undefined, vsize: without };
    const more = extra.shift();
    if (!more) {
      const need = owed + feeFor(without);
      throw rpcError(
        'InvalidParams',
        `insufficient funds for the bump: the replacement needs ${need} sat (${owed} sat to the recipients and a fee of ${feeFor(without)} sat at ${rate} sat/vB, at least the original's ${oldFee} sat + ${INCREMENTAL_RELAY_FEE} sat/vB × ${without} vB), its inputs and the wallet's free coins give ${inSum} sat`,
        { needed_sat: need, available_sat: inSum, original_fee_sat: oldFee },
      );
    }
    inputs.push(more);
  }
}

export interface CpfpResult {
  txid: string;
  parent_txid: string;
  parent_fee_sat: number;
  parent_vsize: number;
  fee_sat: number;
  package_fee_rate: number;
}

/** wallet.cpfp: a child of our outputs of `txid` paying for the package (parent + child) at `rate`. */
export async function cpfp(svc: WalletService, txid: string, rate: number, caller: string): Promise<CpfpResult> {
  await svc.accounts();
  const holder = holderOf('cpfp', txid);
  const plan = await svc.exclusive(async () => {
    const t = svc.ledger.txs.get(txid);
    if (!t || t.outputs.length === 0) throw rpcError('InvalidParams', `${txid} pays nothing to this wallet`);
    if (t.status !== 'pending')
      throw rpcError('Conflict', `${txid} is ${t.status}${t.height !== null ? ` (height ${t.height})` : ''}: only an unconfirmed parent needs a child`);
    const tip = svc.tip();
    const coins = t.outputs
      .map((v) => svc.ledger.coins.get(outpointOf(txid, v)))
      .filter((c): c is Coin => c !== undefined && c.watch === undefined && svc.mature(c, tip) && svc.reservations.freeFor(outpointOf(c.txid, c.vout), holder));
    if (coins.length === 0) throw rpcError('Conflict', `no output of ${txid} is ours and free to spend (spent or promised already)`);
    const entry = await svc.settings.chain.mempoolEntry(txid);
    if (!entry) throw rpcError('Conflict', `${txid} is not in the node's mempool: nothing to pay for`);
    const parentRate = entry.fee_sat / entry.vsize;
    if (parentRate >= rate)
      throw rpcError(
        'InvalidParams',
        `${txid} pays ${rate2(entry.fee_sat, entry.vsize)} sat/vB already (${entry.fee_sat} sat over ${entry.vsize} vB), not below the ${rate} sat/vB asked`,
        { parent_fee_sat: entry.fee_sat, parent_vsize: entry.vsize },
      );
    const ops: BatchOp[] = [];
    const change = svc.takeChange(ops);
    const vsize = estimateVsize(coins, [change.script.length]);
    // The package pays rate × (parent + child); the parent brings its own fee; the child at least the relay minimum.
    const fee = Math.max(Math.ceil(rate * (entry.vsize + vsize)) - entry.fee_sat, vsize);
    const inSum = coins.reduce((s, c) => s + c.value_sat, 0);
    const value = inSum - fee;
    if (value < dustThreshold(change.script))
      throw rpcError('InvalidParams', `our outputs of ${txid} (${inSum} sat) cannot pay the child's fee of ${fee} sat and leave more than dust`, {
        available_sat: inSum,
        fee_sat: fee,
      });
    if (fee > svc.settings.maxFeeSat)
      throw rpcError('PolicyDenied', `the child's fee ${fee} sat is over wallet.maxtxfee (${svc.settings.maxFeeSat} sat)`, {
        rule: 'maxtxfee',
        fee_sat: fee,
        max_sat: svc.settings.maxFeeSat,
      });
    const prev = await previousTransactions(
      svc,
      coins.filter((c) => c.type === 'wpkh'),
    );
    const sel: Selection = { inputs: coins, scripts: [], amounts: [], change_sat: value, fee_sat: fee };
    const funded = buildPsbt(sel, { replaceable: true, tipHeight: tip }, svc.settings.network, {
      change: () => change,
      origin: (c) => svc.derived(c),
      fingerprint: svc.changeKeys().fingerprint,
      prevTx: (x) => prev.get(x),
    });
    svc.reservations.take(
      coins.map((c) => outpointOf(c.txid, c.vout)),
      holder,
      svc.settings.reserveMs,
      ops,
    );
    await svc.settings.store.batch(ops);
    return { psbt: funded.psbt, fee, entry };
  });
  const sent = await signAndBroadcast(svc, plan.psbt, holder, caller, `the child paying for ${txid}`);
  const childVsize = bitcoin.Transaction.fromHex(sent.hex).virtualSize();
  return {
    txid: sent.txid,
    parent_txid: txid,
    parent_fee_sat: plan.entry.fee_sat,
    parent_vsize: plan.entry.vsize,
    fee_sat: plan.fee,
    package_fee_rate: rate2(plan.entry.fee_sat + plan.fee, plan.entry.vsize + childVsize),
  };
}
