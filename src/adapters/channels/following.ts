// Following the chain for our channels: at every block and at every transaction spending a funding output
// (mempool included), what happened to each watched channel's funding output — confirmed (open), still unspent,
// or spent by the cooperative close, a commitment of ours (swept after our delay), a commitment of theirs (current:
// our to_remote swept to the wallet; revoked: the penalty), or by something that is none of them (the channel fails, loudly). The
// work is the room's own: its HSM calls name `anyad sc (<cause>)`, the cause the event that started the look.

import * as bitcoin from 'bitcoinjs-lib';
import type { ConfirmEvent, SpendEvent } from '../bitcoin/api.js';
import { contract, get, list, ourPoint, save, terms, type ChannelContext } from './context.js';
import { fundingMismatch, fundingSeen, spenderOf, tipHeight, watchChannel, type Spender } from './chain-queries.js';
import { perCommitmentPoint } from './keys.js';
import { claim, delayedSign, revocationSign } from './penalties.js';
import { isCommitmentOf } from './rules.js';
import { MAX_INDEX, SecretStore } from './shachain.js';
import { openSecrets } from './secrets.js';
import { releaseWalletCoins } from './wallet-funding.js';
import { revivable, WATCHED } from './state.js';
import { closingTx, commitmentNumberOf, p2wpkh, p2wsh, toLocalOf } from './transactions.js';
import { other, toState, type ChannelRecord, type ChannelStateName } from './record.js';

/** Blocks between two writes of a channel's scan mark (its funding output seen unspent up to there). */
const SCAN_MARK_EVERY = 144;

/** The states whose work goes on block by block: a close's confirmations, a sweep after its delay, a penalty's fee. */
const SETTLING: readonly ChannelStateName[] = ['closing', 'force_closing', 'remote_closing', 'penalizing'];

/**
 * At start (`atStart`): every channel the chain may still move is registered with the bitcoin room (those made
 * before its notifications existed too) and looked at once — an open one's funding output checked on chain again.
 * At a block: the channels settling a close, and our funding while it is not confirmed (sent again should the
 * node have dropped it). The rest is told by chain notifications (onSpent, onConfirmed).
 */
export async function lookAll(room: ChannelContext, caller: string, atStart = false): Promise<void> {
  for (const r of await list(room)) {
    const watched = WATCHED.includes(r.state);
    if (atStart && (watched || revivable(r))) await watchChannel(room.notes, r);
    const now = atStart || SETTLING.includes(r.state) || (r.state === 'funding' && r.role === 'opener');
    if (watched && now)
      await room.locks
        .run(r.id, () => look(room, r.id, caller))
        .catch((err: Error) => room.log.warn({ id: r.id, reason: err.message }, 'channel follow failed'));
    else if (atStart && revivable(r))
      await room.locks
        .run(r.id, () => reviveCancelled(room, r.id, caller))
        .catch((err: Error) => room.log.warn({ id: r.id, reason: err.message }, 'cancelled channel look failed'));
  }
}

/**
 * A registered outpoint spent (mempool included). The funding output: that channel is looked at now, with the
 * spending transaction (a breach in the mempool is punished at once). Our first funding coin, by the funding
 * transaction: a cancelled channel's funding appeared after all.
 */
export async function onSpent(room: ChannelContext, e: SpendEvent, caller: string): Promise<void> {
  const rec = (await list(room)).find((r) => r.id === e.id);
  if (!rec) return;
  if (e.outpoint === `${rec.funding_txid}:${rec.funding_vout}` && WATCHED.includes(rec.state)) {
    const spent: Spender = { tx: bitcoin.Transaction.fromHex(e.hex), height: e.height };
    // A failure propagates: the bitcoin room tells the spend again (at its block, or at the next start).
    await room.locks.run(rec.id, () => look(room, rec.id, caller, spent));
  } else if (e.txid === rec.funding_txid && revivable(rec)) await onFunding(room, rec, caller);
}

/** The funding transaction confirmed: the channel opens (its output checked on chain), or a cancelled one revives. */
export async function onConfirmed(room: ChannelContext, e: ConfirmEvent, caller: string): Promise<void> {
  const rec = (await list(room)).find((r) => r.id === e.id);
  if (!rec || e.txid !== rec.funding_txid) return;
  if (revivable(rec) || WATCHED.includes(rec.state)) await onFunding(room, rec, caller);
}

async function onFunding(room: ChannelContext, rec: ChannelRecord, caller: string): Promise<void> {
  const f = revivable(rec) ? reviveCancelled : look;
  await room.locks.run(rec.id, () => f(room, rec.id, caller));
}

/**
 * A cancelled channel of ours whose funding was signed (the counterparty signed our first commitment, so we may
 * have sent it, or a node may hold it): looked at when its funding is told (and at start), and followed again as
 * 'funding' when its funding transaction appears after all.
 */
async function reviveCancelled(room: ChannelContext, id: string, caller: string): Promise<void> {
  const rec = await get(room, id);
  if (!revivable(rec)) return;
  const seen = await fundingSeen(room.chain, rec);
  if (!seen) return;
  room.log.error({ id, txid: rec.funding_txid }, `a cancelled channel's funding transaction is ${seen}: the channel is followed again`);
  await save(room, { ...rec, state: 'funding' }, rec.state);
  await look(room, id, caller);
}

/** What happened to one channel's funding output, and what to do about it. */
async function look(room: ChannelContext, id: string, caller: string, spent?: Spender): Promise<void> {
  let rec = await get(room, id);
  if (!WATCHED.includes(rec.state) || rec.funding_txid === null) return;
  const tip = Math.max(tipHeight(room.chain), spent?.height ?? 0);
  const out = await room.chain.utxo(rec.funding_txid, rec.funding_vout!);
  if (out) {
    // BOLT 2 channel_ready: the coin on chain at the funding outpoint is checked again, as the chain has it
    // (capacity and 2-of-2 script), before the channel is reported open — and at every look while it is open,
    // so a channel an earlier anyad opened on the opener's word alone is caught too; a mismatch fails it.
    if ((rec.state === 'funding' && out.confirmations >= 1) || rec.state === 'open') {
      const failure = fundingMismatch(rec, out);
      if (failure) {
        room.log.error(
          { id: rec.id, outpoint: `${rec.funding_txid}:${rec.funding_vout}`, reason: failure },
          'channel failed: its funding output on chain is not this channel',
        );
        await save(room, { ...rec, state: 'failed', failure }, rec.state);
        return;
      }
    }
    if (rec.state === 'funding' && out.confirmations >= 1 && rec.current_sig) {
      rec = await save(room, { ...rec, state: 'open' }, rec.state);
      // The funding is confirmed: the coins it spent are gone. The wallet forgets its own when it sees them spent, but
      // never sees a foreign coin's spend: the promise of a hand-picked foreign coin ends here, not at its expiry.
      await releaseWalletCoins(room, rec.id);
    }
    // Unspent at the tip: no block up to it spends it, so a later scan may start after it. Written once a day of
    // blocks rather than at every block (a synced write per channel per block): a scan after downtime then
    // re-reads at most that many blocks.
    if (tip + 1 - rec.scan_height >= SCAN_MARK_EVERY) rec = await save(room, { ...rec, scan_height: tip + 1 }, rec.state);
    // A close we signed and sent that the node does not know (dropped from its mempool): sent again.
    if (rec.state === 'closing' && rec.closing_hex) await room.chain.broadcast(rec.closing_hex, 'the closing').catch(() => undefined);
    return;
  }
  if (rec.state === 'funding') {
    // Not in the mempool nor unspent on chain. Ours: sent again (dropped from the mempool, or a broadcast that
    // failed); refused when it is on chain already, or its coins are spent elsewhere (then sc.cancel says so).
    if (rec.role === 'opener' && rec.funding_hex) await room.chain.broadcast(rec.funding_hex, 'the funding').catch(() => undefined);
    // Confirmed and spent already (while nobody looked): the spend is settled below; otherwise not on chain yet.
    if ((await fundingSeen(room.chain, rec)) !== 'on chain') return;
  }
  // The transaction spending the funding output: the one a notification gave, else ours, else a scan of the blocks
  // since the last look (a spend in the mempool comes as a notification).
  const told = room.notes.spendOf({ outpoint: `${rec.funding_txid}:${rec.funding_vout}`, id });
  const spender =
    spent ??
    (told ? { tx: bitcoin.Transaction.fromHex(told.hex), height: told.height } : undefined) ??
    (await spenderOf(room.chain, rec.funding_txid, rec.funding_vout!, rec.scan_height, tip, [rec.closing_txid]));
  if (!spender) return;
  await settle(room, rec, spender.tx, spender.height, tip, caller);
}

/**
 * The funding output is spent by `tx`: matched to the cooperative close of the current state, a commitment of
 * ours, or a commitment of theirs (current or revoked). A spend that is none of them is never taken for a close:
 * it is reported loudly and the channel marked failed (closed_by 'unknown').
 */
async function settle(room: ChannelContext, rec: ChannelRecord, tx: bitcoin.Transaction, height: number | null, tip: number, caller: string): Promise<void> {
  const t = terms(rec);
  const txid = tx.getId();
  const confs = height === null ? 0 : tip - height + 1;
  const n = commitmentNumberOf(tx, t);
  const cooperative = txid === closingTx(t, toState(rec.current)).getId() || (rec.closing_txid === txid && rec.closed_by === 'cooperative');
  if (cooperative) {
    if (rec.state !== 'closing' || rec.closing_txid !== txid)
      rec = await save(room, { ...rec, state: 'closing', closing_txid: txid, closed_by: 'cooperative' }, rec.state);
    if (confs >= 1) await save(room, { ...rec, state: 'closed' }, rec.state);
    return;
  }
  // A commitment of ours: any number up to the latest we may hold (a revoked one from an old backup included).
  const latestOurs = Math.max(rec.current.number, rec.pending?.state.number ?? 0);
  const ourPt = n !== undefined && n <= latestOurs ? await ourPoint(room, rec, n, caller) : undefined;
  const isOurs = ourPt !== undefined && isCommitmentOf(tx, t, rec.role, ourPt);
  // A commitment of theirs: revoked (its point from the secret they revealed) or one they may still hold.
  // The secrets are opened only for a number they revoked: the penalty's signature needs the keystore unlocked too.
  const theirSecret =
    n !== undefined && n <= rec.their_revoked ? new SecretStore(await openSecrets(room.hsm, rec.id, rec.their_secrets)).get(MAX_INDEX - BigInt(n)) : undefined;
  const theirPoint = theirSecret
    ? perCommitmentPoint(theirSecret)
    : n !== undefined && rec.their_points[n]
      ? Buffer.from(rec.their_points[n], 'hex')
      : undefined;
  const isTheirs = !isOurs && theirPoint !== undefined && isCommitmentOf(tx, t, other(rec.role), theirPoint);
  if (n === undefined || (!isOurs && !isTheirs)) {
    if (rec.state !== 'failed' || rec.closing_txid !== txid) {
      const failure = `the funding output was spent by ${txid}, which is no close or commitment of this channel`;
      room.log.error({ id: rec.id, txid, outpoint: `${rec.funding_txid}:${rec.funding_vout}` }, `channel failed: ${failure}`);
      await save(room, { ...rec, state: 'failed', closing_txid: txid, closed_by: 'unknown', failure }, rec.state);
    }
    return;
  }
  if (isOurs) {
    const ourScript = p2wsh(toLocalOf(t, rec.role, ourPt));
    const ourVout = tx.outs.findIndex((o) => Buffer.compare(Buffer.from(o.script), ourScript) === 0);
    if (rec.state !== 'force_closing') rec = await save(room, { ...rec, state: 'force_closing', closing_txid: txid, closed_by: 'unilateral' }, rec.state);
    if (n < rec.current.number)
      room.log.error(
        { id: rec.id, number: n, current: rec.current.number },
        'a revoked commitment of ours is on chain (an old backup?): the counterparty can take its funds',
      );
    if (ourVout < 0) {
      if (confs >= 1) await save(room, { ...rec, state: 'closed' }, rec.state);
      return;
    }
    // to_local after to_self_delay confirmations: swept to the channel's claim script (payouts.ts).
    if (confs < rec.to_self_delay) return;
    const sweeping = rec;
    await claim(room, rec, {
      commitment: tx,
      height: height!,
      vout: ourVout,
      script: toLocalOf(t, rec.role, ourPt),
      path: { sweep: rec.to_self_delay },
      sign: (digest) => delayedSign(room, sweeping, ourPt, digest, caller),
    });
    return;
  }
  // Theirs: revoked (we hold its secret) or one they may still use.
  const secret = theirSecret;
  if (!secret) {
    // The state that settles is the one of their commitment, which need not be our current one: the state before
    // it when they never revoked that (an update they proposed and we acknowledged), or the one we proposed and
    // signed for them (they never acknowledged it). Reported as it is on chain, never the balances of another.
    const onChain = [rec.current, rec.pending?.state, rec.pending?.before].find((x) => x?.number === n);
    if (rec.state !== 'remote_closing')
      rec = await save(
        room,
        { ...rec, state: 'remote_closing', closing_txid: txid, closed_by: 'remote_unilateral', ...(onChain ? { current: onChain, pending: null } : {}) },
        rec.state,
        onChain !== undefined && onChain.number !== rec.current.number,
      );
    if (confs < 1) return;
    await sweepToRemote(room, rec, tx, height!, caller);
    return;
  }
  const point = perCommitmentPoint(secret);
  const script = toLocalOf(t, other(rec.role), point);
  const vout = tx.outs.findIndex((o) => Buffer.compare(Buffer.from(o.script), p2wsh(script)) === 0);
  if (rec.state !== 'penalizing') {
    rec = await save(room, { ...rec, state: 'penalizing', closing_txid: txid, closed_by: 'penalty' }, rec.state);
    room.log.warn(
      { id: rec.id, txid, number: n, current: rec.current.number },
      'the counterparty broadcast a revoked state: taking its funds with the penalty',
    );
  }
  // Their to_local first (the penalty must confirm before their delay ends), then our to_remote of that commitment
  // (only our payment key can spend it: it waits without risk), so both land in the wallet.
  const hasRemote = tx.outs.some((o) => Buffer.compare(Buffer.from(o.script), p2wpkh(rec.ours.payment_basepoint)) === 0);
  if (vout >= 0) {
    const punishing = rec;
    const penalty = await claim(room, rec, {
      commitment: tx,
      height: height ?? tip + 1,
      vout,
      script,
      path: 'penalty',
      sign: (digest) => revocationSign(room, punishing, point, secret, digest, caller),
      closes: !hasRemote,
    });
    if (penalty !== 'settled' || !hasRemote) return;
    rec = await get(room, rec.id);
  }
  if (confs < 1) return;
  await sweepToRemote(room, rec, tx, height!, caller);
}

/**
 * Our balance in the to_remote output of their commitment, paid to our payment key at once (the commitment both
 * signed names that key, not a wallet address). Once confirmed it is swept to the claim script (a wallet address), so
 * it lands in the wallet like a close; without a wallet the keystore keeps it (claim() then just closes).
 */
async function sweepToRemote(room: ChannelContext, rec: ChannelRecord, tx: bitcoin.Transaction, height: number, caller: string): Promise<void> {
  const remoteVout = tx.outs.findIndex((o) => Buffer.compare(Buffer.from(o.script), p2wpkh(rec.ours.payment_basepoint)) === 0);
  if (remoteVout < 0) {
    await save(room, { ...rec, state: 'closed' }, rec.state);
    return;
  }
  await claim(room, rec, {
    commitment: tx,
    height,
    vout: remoteVout,
    script: Buffer.from(rec.ours.payment_basepoint, 'hex'),
    path: 'remote',
    sign: (digest) => room.hsm.tweakedSign(rec.keys.payment, digest, {}, caller, contract(rec, 'sweep')),
  });
}
