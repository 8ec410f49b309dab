// What the DLC room asks the bitcoin room to tell it about a signed contract (chain notifications, under the
// contract's id), and what it does when told: the funding transaction seen (it spends the funding's first input)
// and confirmed, and the funding output spent in a block by a transaction the contract knows — a CET, the refund
// or a mutual close, whoever sent it. The bitcoin room keeps the registrations and what it told across restarts
// and reorgs, so nothing here asks bitcoind per contract per block.

import type * as bitcoin from 'bitcoinjs-lib';
import type { ConfirmEvent, ReorgEvent, SpendEvent } from '../bitcoin/api.js';
import { get, list, parts, save } from './contracts.js';
import { confirmations } from './funding.js';
import { releaseWalletCoins } from './wallet-funding.js';
import type { ContractRecord, ContractState, DlcContext } from './context.js';

const outpointOf = (input: bitcoin.Transaction['ins'][number]): string => `${Buffer.from(input.hash).reverse().toString('hex')}:${input.index}`;

/** The states in which the chain still decides something for a contract (a cancelled signed one may be funded after all). */
const FOLLOWED: readonly ContractState[] = ['signed', 'broadcast', 'confirmed', 'closing', 'refunding', 'cancelled'];

/**
 * Registers a contract's funding with the bitcoin room: its first input's spend (the funding seen in the mempool),
 * its confirmation, and its output's spend. Before the funding can be sent; registering again changes nothing.
 */
export async function watchFunding(ctx: DlcContext, id: string, funding: bitcoin.Transaction, fundOutputIndex: number): Promise<void> {
  const txid = funding.getId();
  await ctx.notes.watchSpend({ outpoint: outpointOf(funding.ins[0]!), id });
  await ctx.notes.watchConfirm({ txid, depth: 1, id });
  await ctx.notes.watchSpend({ outpoint: `${txid}:${fundOutputIndex}`, id });
}

/**
 * At start: every contract the chain may still move is registered (those signed before notifications existed
 * included), and a funding not yet seen confirmed is asked about once: a registration made after the funding
 * confirmed (an earlier anyad's contract) is never told of it.
 */
export async function watchAll(ctx: DlcContext): Promise<void> {
  for (const r of await list(ctx)) {
    if (!FOLLOWED.includes(r.state) || !r.funding_txid || !r.sign) continue;
    const { t } = await parts(ctx, r);
    await watchFunding(ctx, r.id, t.funding, t.fundOutputIndex);
    if (r.state !== 'signed' && r.state !== 'broadcast' && r.state !== 'cancelled') continue;
    const c = await confirmations(ctx, r.funding_txid, t.fundOutputIndex);
    if (c === undefined) continue;
    await ctx.locks.run(r.id, async () => {
      let rec = await get(ctx, r.id);
      if (rec.state === 'signed' || rec.state === 'cancelled') rec = await seen(ctx, rec);
      if (c >= 1 && rec.state === 'broadcast') await confirmed(ctx, rec);
    });
  }
}

/** The funding confirmed: the contract is confirmed (through broadcast, as every transition is reported). */
export async function onConfirmed(ctx: DlcContext, e: ConfirmEvent): Promise<void> {
  await ctx.locks.run(e.id, async () => {
    let rec = await get(ctx, e.id);
    if (rec.funding_txid !== e.txid || !['signed', 'broadcast', 'cancelled'].includes(rec.state)) return;
    if (rec.state !== 'broadcast') rec = await seen(ctx, rec);
    await confirmed(ctx, rec);
  });
}

/**
 * broadcast → confirmed. The coins the wallet promised to the contract are spent for good then: given back, as a
 * hand-picked foreign coin's spend is never seen by the wallet (its own coins' promises ended when it saw the spend).
 */
async function confirmed(ctx: DlcContext, rec: ContractRecord): Promise<void> {
  await save(ctx, { ...rec, state: 'confirmed' }, 'broadcast');
  await releaseWalletCoins(ctx, rec.id);
}

/** A registered outpoint spent: the funding's first input (the funding seen), or the funding output (a close). */
export async function onSpent(ctx: DlcContext, e: SpendEvent): Promise<void> {
  await ctx.locks.run(e.id, async () => {
    const rec = await get(ctx, e.id);
    if (!FOLLOWED.includes(rec.state) || !rec.funding_txid) return;
    const { offer, t } = await parts(ctx, rec);
    if (e.outpoint !== `${rec.funding_txid}:${t.fundOutputIndex}`) {
      if (e.txid === rec.funding_txid && (rec.state === 'signed' || rec.state === 'cancelled')) await seen(ctx, rec);
      else if (e.txid !== rec.funding_txid && (rec.state === 'signed' || rec.state === 'broadcast'))
        ctx.log.warn({ id: rec.id, input: e.outpoint, by: e.txid }, 'DLC funding input spent by another transaction: this funding cannot confirm (dlc.cancel)');
      return;
    }
    // The funding output: settled once the spend is in a block (in the mempool it may still be replaced).
    if (e.height === null || !['confirmed', 'closing', 'refunding'].includes(rec.state)) return;
    if (rec.state !== 'confirmed' && e.txid === rec.closing_txid) {
      await save(ctx, { ...rec, state: rec.state === 'closing' ? 'closed' : 'refunded' }, rec.state);
      return;
    }
    // Spent by the counterparty (or by us elsewhere): a CET of a known outcome, the refund, or a mutual close we proposed.
    const known = new Map<string, { state: ContractState; outcome: string | null }>([
      [t.refund.getId(), { state: 'refunded', outcome: null }],
      ...offer.contract_info.payouts.map(
        (p, i) => [t.cets[i]!.getId(), { state: 'closed', outcome: p.outcome }] as [string, { state: ContractState; outcome: string }],
      ),
      ...(rec.mutual_closes ?? []).map((m) => [m.txid, { state: 'closed', outcome: null }] as [string, { state: ContractState; outcome: null }]),
    ]);
    const k = known.get(e.txid);
    if (!k) {
      ctx.log.error({ id: rec.id, txid: e.txid }, 'DLC funding output spent by a transaction that is none of the contract’s');
      return;
    }
    await save(ctx, { ...rec, state: k.state, closing_txid: e.txid, closing_hex: undefined, outcome: k.outcome }, rec.state);
  });
}

/** A confirmation or close that a reorg took back: said loudly; the contract follows the chain again when it settles. */
export function onReorged(ctx: DlcContext, e: ReorgEvent): void {
  ctx.log.warn({ id: e.id, txid: e.txid, height: e.height, block: e.block_hash, kind: e.kind }, 'DLC transaction taken out of the chain by a reorg');
}

/** The funding transaction seen by the node: signed (or cancelled) → broadcast. */
async function seen(ctx: DlcContext, rec: ContractRecord): Promise<ContractRecord> {
  if (rec.state === 'cancelled')
    ctx.log.warn({ id: rec.id, txid: rec.funding_txid }, 'DLC cancelled contract funded after all (the counterparty sent its funding): followed again');
  return save(ctx, { ...rec, state: 'broadcast' }, rec.state);
}
