// The chain, followed through the bitcoin room at every block: a contract's funding seen and confirmed (a cancelled
// one's too, should the counterparty send it after all), its CET, refund or mutual close confirmed (whoever sent
// it; sent again while the node does not know ours), and what the room does by itself: the CET once the configured
// oracles attest (dlc.autoclose), the refund past its locktime (dlc.autorefund), each under backgroundCaller.
// Also the configured oracles' announcements (dlc.fetchannouncement).

import { backgroundCaller } from '../../core/methods.js';
import { rpcError } from '../../core/errors.js';
import type { Offer } from './messages.js';
import { OracleError, verifyAnnouncement } from './oracle.js';
import { OracleUnreachable } from './oracle-client.js';
import { get, list, parts, resealClear, save } from './contracts.js';
import { confirmations, fundingUnspent } from './funding.js';
import { refund, settle } from './closing.js';
import { hex, type ContractState, type DlcContext } from './context.js';

const OPEN: readonly ContractState[] = ['signed', 'broadcast', 'confirmed', 'closing', 'refunding'];

/** An announcement from the configured oracles (dlc.oracle), verified; with the oracle it came from. */
export async function fetchAnnouncement(ctx: DlcContext, eventId: string): Promise<{ announcement: string; oracle: string }> {
  if (ctx.oracles.length === 0) throw rpcError('Unsupported', 'no oracle is configured (dlc.oracle)');
  const reasons: string[] = [];
  for (const o of ctx.oracles) {
    try {
      const tlv = await o.announcement(eventId);
      if (!tlv) {
        reasons.push(`${o.base}: no such event`);
        continue;
      }
      verifyAnnouncement(tlv);
      return { announcement: hex(tlv), oracle: o.base };
    } catch (err) {
      if (err instanceof OracleUnreachable || err instanceof OracleError) reasons.push(`${o.base}: ${err.message}`);
      else throw err;
    }
  }
  throw rpcError('NotFound', `no configured oracle gave a valid announcement of ${eventId}: ${reasons.join('; ')}`);
}

/** The attestations of a contract's event from the configured oracles its announcements name, as far as they have attested. */
export async function fetchAttestations(ctx: DlcContext, offer: Offer): Promise<string[]> {
  const ci = offer.contract_info;
  const out: string[] = [];
  for (const ann of ci.oracles?.announcements ?? [ci.announcement])
    for (const o of ctx.oracles) {
      if ((await o.publicKey()) !== ann.oracle_public_key) continue;
      const att = await o.attestation(ann.event.event_id);
      if (att) out.push(hex(att));
      break;
    }
  return out;
}

/** One look at every open contract after a block. */
export async function follow(ctx: DlcContext, blockHash: string): Promise<void> {
  await resealClear(ctx);
  // A cancelled contract that was signed by both is watched too: the counterparty holds our funding signatures and
  // may still send its funding transaction.
  const open = (await list(ctx)).filter((r) => OPEN.includes(r.state) || (r.state === 'cancelled' && r.sign !== null));
  if (open.length === 0) return;
  const header = await ctx.chain.header(blockHash);
  for (const r of open)
    await ctx.locks
      .run(r.id, () => followOne(ctx, r.id, header, blockHash))
      .catch((err: Error) => ctx.log.warn({ id: r.id, reason: err.message }, 'DLC follow failed'));
}

export async function followOne(ctx: DlcContext, id: string, header: { height: number; mediantime?: number; time: number }, blockHash: string): Promise<void> {
  const rec = await get(ctx, id);
  if (rec.state === 'cancelled') {
    const c = await confirmations(ctx, rec.funding_txid!, (await parts(ctx, rec)).t.fundOutputIndex);
    if (c === undefined) return;
    ctx.log.warn({ id, txid: rec.funding_txid }, 'DLC cancelled contract funded after all (the counterparty sent its funding): followed again');
    await save(ctx, { ...rec, state: 'broadcast' }, 'cancelled');
    if (c >= 1) await save(ctx, { ...(await get(ctx, id)), state: 'confirmed' }, 'broadcast');
    return;
  }
  if (rec.state === 'signed' || rec.state === 'broadcast') {
    const c = await confirmations(ctx, rec.funding_txid!, (await parts(ctx, rec)).t.fundOutputIndex);
    if (c === undefined) return;
    if (rec.state === 'signed') await save(ctx, { ...rec, state: 'broadcast' }, 'signed');
    if (c >= 1) await save(ctx, { ...(await get(ctx, id)), state: 'confirmed' }, 'broadcast');
    return;
  }
  if (rec.state === 'closing' || rec.state === 'refunding') {
    // In this block (a node without txindex cannot say later), or confirmed already.
    const inBlock = (await ctx.chain.blockTxids(blockHash)).includes(rec.closing_txid!);
    const confs = inBlock ? 1 : await confirmations(ctx, rec.closing_txid!, 0);
    if ((confs ?? 0) >= 1) {
      await save(ctx, { ...rec, state: rec.state === 'closing' ? 'closed' : 'refunded' }, rec.state);
      return;
    }
    if (confs !== undefined) return; // in the mempool
    // The node does not know it: dropped from its mempool (a restart, an eviction), or refused after accepting
    // it for relay (bcoin answers sendrawtransaction before its mempool decides). Sent again while the funding
    // output is unspent, with the node's reason in the log if it refuses; otherwise the spend is looked for below.
    if (rec.closing_hex && (await fundingUnspent(ctx, rec))) {
      const what = rec.mutual_closes?.some((m) => m.txid === rec.closing_txid) ? 'the mutual close' : rec.state === 'closing' ? 'the CET' : 'the refund';
      await ctx.chain.broadcast(rec.closing_hex, what).then(
        () => ctx.log.info({ id, txid: rec.closing_txid }, 'DLC closing transaction sent again: the node did not know it'),
        (err: Error) => ctx.log.warn({ id, txid: rec.closing_txid, reason: err.message }, 'DLC closing transaction refused; next block retries'),
      );
      return;
    }
  } else if (rec.state !== 'confirmed') return;
  const { offer, t } = await parts(ctx, rec);
  const unspent = rec.state === 'confirmed' && (await fundingUnspent(ctx, rec));
  if (unspent && ctx.autoclose && Date.now() / 1000 >= offer.contract_info.announcement.event.maturity_epoch) {
    const attestations = await fetchAttestations(ctx, offer).catch((err: Error) => {
      ctx.log.warn({ id, reason: err.message }, 'DLC oracle not reached; next block retries');
      return [] as string[];
    });
    if (attestations.length >= (offer.contract_info.oracles?.threshold ?? 1)) {
      ctx.log.info({ id }, 'DLC attestation fetched: closing');
      await locksFree(ctx, () => settle(ctx, id, attestations, backgroundCaller('dlc', 'dlc.autoclose')));
      return;
    }
  }
  if (unspent) {
    const locktime = offer.refund_locktime;
    const due = locktime >= 500_000_000 ? (header.mediantime ?? header.time) >= locktime : header.height >= locktime;
    if (due && ctx.autorefund) {
      ctx.log.info({ id }, 'DLC refund locktime passed: refunding');
      await locksFree(ctx, () => refund(ctx, id, backgroundCaller('dlc', 'dlc.autorefund')));
    }
    return;
  }
  // Spent by the counterparty (or by us elsewhere): a CET of a known outcome, the refund, or the mutual close we
  // proposed.
  const known = new Map<string, { state: ContractState; outcome: string | null }>([
    [t.refund.getId(), { state: 'refunded', outcome: null }],
    ...offer.contract_info.payouts.map(
      (p, i) => [t.cets[i]!.getId(), { state: 'closed', outcome: p.outcome }] as [string, { state: ContractState; outcome: string }],
    ),
    ...(rec.mutual_closes ?? []).map((m) => [m.txid, { state: 'closed', outcome: null }] as [string, { state: ContractState; outcome: null }]),
  ]);
  for (const txid of await ctx.chain.blockTxids(blockHash)) {
    const k = known.get(txid);
    if (!k) continue;
    await save(ctx, { ...rec, state: k.state, closing_txid: txid, closing_hex: undefined, outcome: k.outcome }, rec.state);
    return;
  }
}

/** Runs fn after the current lock holder (followOne) returns: refund() takes the same contract lock. */
export function locksFree(ctx: DlcContext, fn: () => Promise<unknown>): Promise<void> {
  setImmediate(() => void fn().catch((err: Error) => ctx.log.warn({ reason: err.message }, 'DLC automatic close or refund failed; next block retries')));
  return Promise.resolve();
}
