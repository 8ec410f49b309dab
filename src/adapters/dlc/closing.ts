// A funded contract's end: the CET of the attested outcome (dlc.close, or dlc.autoclose), the refund past its
// locktime (dlc.refund, or dlc.autorefund), a mutual close proposed (dlc.proposeclose, node-dlc's close_dlc) or
// taken (dlc.acceptclose) after checking it; and dlc.cancel of a contract never funded, its coins freed.

import { secp256k1 } from '@noble/curves/secp256k1.js';
import * as bitcoin from 'bitcoinjs-lib';
import { adaptorDecrypt } from '../../core/ecdsa-adaptor.js';
import { rpcError } from '../../core/errors.js';
import type { BatchOp } from '../../core/store.js';
import { decodeClose, encodeClose, MSG } from './messages.js';
import { decodeAttestation } from './oracle.js';
import { attestedByThreshold, attestedCet, sumScalars } from './outcomes.js';
import { checkCloseFee, checkCompactLowS } from './rules.js';
import { closingSighash, mutualClose, type DlcTransactions } from './transactions.js';
import { get, list, parts, save, theirSignatures } from './contracts.js';
import { fundingSeen } from './funding.js';
import { releaseWalletCoins } from './wallet-funding.js';
import { commitStep, needP2p } from './peer-wire.js';
import { asRpc, compactOf, derWithSighash, hex, rule, SIGHASH_ALL, u64, type DlcContext, type Via } from './context.js';

/** Outstanding mutual close proposals per contract (each a signed transaction the counterparty may broadcast). */
const MAX_CLOSE_PROPOSALS = 16;
/** A mutual close's amount at risk for this side: its collateral minus what the close pays it, when positive. */
const closeSpends = (ownCollateral: bigint, ownPayout: bigint): number => Number(ownCollateral > ownPayout ? ownCollateral - ownPayout : 0n);

/**
 * Drops a contract that was not funded: offered, accepted before the offerer signed, or signed (by both) with its
 * funding transaction seen neither on chain nor in the node's mempool. Its coins are free again. A signed one's
 * funding could still be sent by the counterparty (it holds our funding signatures): the follower keeps looking
 * for it, and the coins are safe from that only once spent elsewhere.
 *
 * 'broadcast' is taken as 'signed' is: it says the funding was sent or seen once, not that it still can confirm.
 * A counterparty that spends its own funding input elsewhere (a replacement, or a conflict sent first to a node
 * that answers sendrawtransaction before validating) makes the funding invalid for good; without this, our coins
 * stayed reserved to a contract that can never be funded, and no call could free them.
 */
export async function cancel(ctx: DlcContext, id: string, caller: string): Promise<{ id: string; state: string }> {
  return ctx.locks.run([id, 'utxos'], async () => {
    // An offer a peer made (inbox.ts) and this side never accepted: declined, nothing was made or signed for it.
    if ((await ctx.db.get(`r:${id}`)) && !(await ctx.db.get(`c:${id}`))) {
      await ctx.store.batch([{ type: 'del', sublevel: ctx.db, key: `r:${id}` }], { sync: true });
      ctx.log.info({ id }, 'an offer from a peer declined');
      return { id, state: 'declined' };
    }
    const rec = await get(ctx, id);
    if (rec.state !== 'offered' && rec.state !== 'accepted' && rec.state !== 'signed' && rec.state !== 'broadcast')
      throw rpcError('Conflict', `contract ${id} is ${rec.state}: only an offered, accepted or signed but never funded contract can be cancelled`);
    if (rec.state === 'signed' || rec.state === 'broadcast') {
      if (await fundingSeen(ctx, rec))
        throw rpcError('Conflict', `contract ${id}: its funding transaction ${rec.funding_txid} is on chain or in the mempool; it cannot be cancelled`, {
          txid: rec.funding_txid,
        });
      // A node without txindex does not know a confirmed transaction whose output is spent already: a coin of ours
      // that is spent may have been spent by the funding. Refused rather than guessed.
      const { offer, accept } = await parts(ctx, rec);
      for (const i of rec.role === 'offerer' ? offer.funding_inputs : accept.funding_inputs) {
        const txid = bitcoin.Transaction.fromHex(i.prev_tx).getId();
        if ((await ctx.chain.utxo(txid, i.prev_tx_vout)) === null)
          throw rpcError(
            'Conflict',
            `contract ${id}: our funding input ${txid}:${i.prev_tx_vout} is spent (by the funding transaction, or elsewhere); it cannot be cancelled`,
            { txid: rec.funding_txid },
          );
      }
    }
    const ops: BatchOp[] = [];
    for await (const [k, v] of ctx.db.iterator({ gte: 'u:', lt: 'u;' })) if (v === id) ops.push({ type: 'del', sublevel: ctx.db, key: k });
    await save(ctx, { ...rec, state: 'cancelled' }, rec.state, ops);
    // The coins the wallet promised to it (chosen or hand-picked) are free again (after the record says cancelled).
    await releaseWalletCoins(ctx, id);
    ctx.log.info({ id, caller, was: rec.state }, 'DLC cancelled');
    return { id, state: 'cancelled' };
  });
}

/**
 * With the oracle's attestation (or, for a contract on several oracles, the attestations of at least `threshold`
 * of them agreeing on an outcome): the CET of the attested outcome, completed with both signatures, and broadcast.
 */
export async function settle(ctx: DlcContext, id: string, attestationsHex: string[], caller: string): Promise<{ id: string; outcome: string; txid: string }> {
  return ctx.locks.run(id, async () => {
    const rec = await get(ctx, id);
    if (rec.state !== 'broadcast' && rec.state !== 'confirmed') throw rpcError('Conflict', `contract ${id} is ${rec.state}; a CET closes a funded contract`);
    const { offer, t, theirKey, ourKey, signing, ownCollateral } = await parts(ctx, rec);
    const { adaptor: theirAdaptor } = await theirSignatures(ctx, rec);
    let cetIdx: number;
    let idx: number;
    let s: Buffer;
    try {
      const ci = offer.contract_info;
      if (ci.oracles)
        ({ cetIdx, idx, s } = attestedByThreshold(
          ci,
          attestationsHex.map((h) => decodeAttestation(Buffer.from(h, 'hex'))),
        ));
      else {
        if (attestationsHex.length !== 1)
          throw rpcError('InvalidParams', `this contract has one oracle: give its one attestation, not ${attestationsHex.length}`);
        const one = attestedCet(ci, ci.announcement, decodeAttestation(Buffer.from(attestationsHex[0]!, 'hex')));
        cetIdx = idx = one.cet;
        s = sumScalars(one.s);
      }
    } catch (err) {
      throw asRpc(err);
    }
    const outcome = offer.contract_info.payouts[cetIdx]!.outcome;
    const cet = t.cets[cetIdx]!;
    const digest = closingSighash(cet, t);
    const theirs = derWithSighash(adaptorDecrypt(Buffer.from(theirAdaptor[idx]!, 'hex'), s));
    const ours = Buffer.concat([
      await ctx.hsm.signDigest(rec.keys.funding, digest, caller, { ...signing, purpose: 'cet', spends_sat: Number(ownCollateral) }),
      Buffer.of(SIGHASH_ALL),
    ]);
    const closingHex = spendFunding(cet, t, { key: ourKey, sig: ours }, { key: theirKey, sig: theirs });
    const txid = await ctx.chain.broadcast(closingHex, `the CET ("${outcome}")`);
    await save(ctx, { ...rec, state: 'closing', outcome, closing_txid: txid, closing_hex: closingHex }, rec.state);
    ctx.log.info({ id, outcome, txid, caller }, 'DLC CET broadcast');
    return { id, outcome, txid };
  });
}

/** The refund transaction, completed with both signatures, and broadcast (the node refuses it before its locktime). */
export async function refund(ctx: DlcContext, id: string, caller: string): Promise<{ id: string; txid: string }> {
  return ctx.locks.run(id, async () => {
    const rec = await get(ctx, id);
    if (rec.state !== 'broadcast' && rec.state !== 'confirmed')
      throw rpcError('Conflict', `contract ${id} is ${rec.state}; the refund spends a funded contract`);
    const { t, theirKey, ourKey, signing, ownCollateral } = await parts(ctx, rec);
    const { refund: theirRefund } = await theirSignatures(ctx, rec);
    const digest = closingSighash(t.refund, t);
    const ours = Buffer.concat([
      await ctx.hsm.signDigest(rec.keys.funding, digest, caller, { ...signing, purpose: 'refund', spends_sat: Number(ownCollateral) }),
      Buffer.of(SIGHASH_ALL),
    ]);
    const closingHex = spendFunding(t.refund, t, { key: ourKey, sig: ours }, { key: theirKey, sig: derWithSighash(Buffer.from(theirRefund, 'hex')) });
    const txid = await ctx.chain.broadcast(closingHex, 'the refund');
    await save(ctx, { ...rec, state: 'refunding', closing_txid: txid, closing_hex: closingHex }, rec.state);
    ctx.log.info({ id, txid, caller }, 'DLC refund broadcast');
    return { id, txid };
  });
}

/**
 * A mutual close proposed by us: we take `payout_sat` of the total collateral, the counterparty the rest, and the
 * fee is what the funding output holds beyond the collateral (the CET fee both parties already put in). Answers
 * close_dlc with our signature; the counterparty completes and broadcasts it (dlc.closeaccept).
 */
export async function proposeClose(
  ctx: DlcContext,
  id: string,
  payoutSat: number,
  caller: string,
): Promise<{ id: string; close: string; txid: string; offer_payout_sat: number; accept_payout_sat: number }> {
  return ctx.locks.run(id, async () => {
    const rec = await get(ctx, id);
    if (rec.state !== 'broadcast' && rec.state !== 'confirmed')
      throw rpcError('Conflict', `contract ${id} is ${rec.state}; a mutual close spends a funded contract`);
    const { offer, accept, t, signing, ownCollateral } = await parts(ctx, rec);
    const total = offer.contract_info.total_collateral;
    const ours = BigInt(payoutSat);
    if (ours > total) throw rpcError('InvalidParams', `payout_sat ${payoutSat} is more than the total collateral ${total}`);
    const [offerPayout, acceptPayout] = rec.role === 'offerer' ? [ours, total - ours] : [total - ours, ours];
    let tx: bitcoin.Transaction;
    try {
      tx = mutualClose(offer, accept, t, offerPayout, acceptPayout);
    } catch (err) {
      throw asRpc(err);
    }
    // Every proposal stays takeable (its signature is out), so each is kept to be recognised on chain; bounded.
    const txid = tx.getId();
    const proposals = rec.mutual_closes ?? [];
    const known = proposals.some((p) => p.txid === txid);
    if (!known && proposals.length >= MAX_CLOSE_PROPOSALS)
      throw rpcError('Conflict', `contract ${id} has ${proposals.length} mutual close proposals outstanding already; the counterparty may take any of them`);
    const signature = compactOf(
      await ctx.hsm.signDigest(rec.keys.funding, closingSighash(tx, t), caller, {
        ...signing,
        purpose: 'close',
        spends_sat: closeSpends(ownCollateral, ours),
      }),
    );
    const closeBytes = encodeClose({
      contract_id: rec.contract_id!,
      close_signature: signature,
      offer_payout: offerPayout,
      accept_payout: acceptPayout,
      fund_input_serial_id: u64(),
    });
    const close = hex(closeBytes);
    const next = { ...rec, mutual_closes: [...proposals, { txid, offer_payout: String(offerPayout), accept_payout: String(acceptPayout) }] };
    // A contract made over the peer network: the close goes to its peer too, in the batch that keeps the proposal
    // (a proposal made again is sent again, in a batch of its own).
    if (rec.peer !== undefined) {
      const p2p = needP2p(ctx);
      if (!known) await commitStep(ctx, next, rec.state, [], { peer: rec.peer }, closeBytes);
      else await p2p.deliver(rec.peer, MSG.close, closeBytes.subarray(2));
    } else if (!known) await save(ctx, next, rec.state);
    ctx.log.info({ id, txid, caller, ...(rec.peer !== undefined ? { peer: rec.peer } : {}) }, 'DLC mutual close proposed');
    return { id, close, txid, offer_payout_sat: Number(offerPayout), accept_payout_sat: Number(acceptPayout) };
  });
}

/**
 * A counterparty's close_dlc: taken only when it pays us exactly `payout_sat` (refuse rather than guess), its
 * signature verifies against their funding key, and it spends our contract's funding output; then completed with
 * our signature and broadcast.
 */
export async function acceptClose(ctx: DlcContext, closeHex: string, payoutSat: number, caller: string, via?: Via): Promise<{ id: string; txid: string }> {
  let c;
  try {
    c = decodeClose(Buffer.from(closeHex, 'hex'));
  } catch (err) {
    throw asRpc(err);
  }
  const found = (await list(ctx)).find((r) => r.contract_id === c.contract_id);
  if (!found) throw rpcError('NotFound', `no contract has contract_id ${c.contract_id}`);
  return ctx.locks.run(found.id, async () => {
    const rec = await get(ctx, found.id);
    if (rec.state !== 'broadcast' && rec.state !== 'confirmed')
      throw rpcError('Conflict', `contract ${rec.id} is ${rec.state}; a mutual close spends a funded contract`);
    const { offer, accept, t, theirKey, ourKey, signing, ownCollateral } = await parts(ctx, rec);
    const ours = rec.role === 'offerer' ? c.offer_payout : c.accept_payout;
    if (ours !== BigInt(payoutSat))
      throw rpcError('InvalidParams', `the close pays this party ${ours} sat, not the payout_sat ${payoutSat} it expects; not signed`);
    rule(() => checkCloseFee(c.offer_payout, c.accept_payout, offer.contract_info.total_collateral));
    let tx: bitcoin.Transaction;
    try {
      tx = mutualClose(offer, accept, t, c.offer_payout, c.accept_payout);
    } catch (err) {
      throw asRpc(err);
    }
    const digest = closingSighash(tx, t);
    const theirSig = Buffer.from(c.close_signature, 'hex');
    // BIP 146: a high-S signature would make the close non-standard; refused before ours is made.
    rule(() => checkCompactLowS(c.close_signature, 'close_dlc: close_signature'));
    if (!secp256k1.verify(theirSig, digest, Buffer.from(theirKey, 'hex'), { prehash: false, lowS: true }))
      throw rpcError('InvalidParams', "close_dlc: close_signature does not verify against the counterparty's funding key for this close");
    const mine = Buffer.concat([
      await ctx.hsm.signDigest(rec.keys.funding, digest, caller, { ...signing, purpose: 'close', spends_sat: closeSpends(ownCollateral, ours) }),
      Buffer.of(SIGHASH_ALL),
    ]);
    const closingHex = spendFunding(tx, t, { key: ourKey, sig: mine }, { key: theirKey, sig: derWithSighash(theirSig) });
    const txid = await ctx.chain.broadcast(closingHex, 'the mutual close');
    const mutual = { txid, offer_payout: String(c.offer_payout), accept_payout: String(c.accept_payout) };
    // Taken from a peer (dlc.acceptclose id=): the kept proposal goes in this batch.
    await save(ctx, { ...rec, state: 'closing', closing_txid: txid, closing_hex: closingHex, mutual_closes: [mutual] }, rec.state, via?.extra ?? []);
    ctx.log.info({ id: rec.id, txid, caller }, 'DLC mutual close broadcast');
    return { id: rec.id, txid };
  });
}

/** The 2-of-2 witness: empty, then the signatures in the order of the sorted keys, then the script. */
export function spendFunding(tx: bitcoin.Transaction, t: DlcTransactions, ours: { key: string; sig: Buffer }, theirs: { key: string; sig: Buffer }): string {
  const [first, second] = [ours, theirs].sort((a, b) => a.key.localeCompare(b.key));
  tx.setWitness(0, [Buffer.alloc(0), first!.sig, second!.sig, t.fundingScript]);
  return tx.toHex();
}
