// The chain at every block, for what the bitcoin room's notifications (chain-notes.ts: funding seen and confirmed,
// CET, refund or mutual close in a block) do not say: our closing transaction sent again while the node does not
// know it, and what the room does by itself: the CET once the configured oracles attest (dlc.autoclose), the refund
// past its locktime (dlc.autorefund), each under backgroundCaller.
// Also the configured oracles' announcements (dlc.fetchannouncement).

import { backgroundCaller } from '../../core/methods.js';
import { rpcError } from '../../core/errors.js';
import type { Offer } from './messages.js';
import { OracleError, verifyAnnouncement } from './oracle.js';
import { OracleUnreachable } from './oracle-client.js';
import { get, list, parts, resealClear } from './contracts.js';
import { confirmations, fundingUnspent } from './funding.js';
import { refund, settle } from './closing.js';
import { hex, type DlcContext } from './context.js';

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
  const open = (await list(ctx)).filter((r) => r.state === 'confirmed' || r.state === 'closing' || r.state === 'refunding');
  if (open.length === 0) return;
  const header = await ctx.chain.header(blockHash);
  for (const r of open)
    await ctx.locks.run(r.id, () => followOne(ctx, r.id, header)).catch((err: Error) => ctx.log.warn({ id: r.id, reason: err.message }, 'DLC follow failed'));
}

export async function followOne(ctx: DlcContext, id: string, header: { height: number; mediantime: number; time: number }): Promise<void> {
  const rec = await get(ctx, id);
  if (rec.state === 'closing' || rec.state === 'refunding') {
    // Its block comes as a chain notification (chain-notes.ts). Here: the node knows it (mempool or chain), or it
    // was dropped from its mempool (a restart, an eviction), or refused after accepting it for relay (bcoin answers
    // sendrawtransaction before its mempool decides). Sent again while the funding output is unspent, with the
    // node's reason in the log if it refuses.
    if ((await confirmations(ctx, rec.closing_txid!, 0)) !== undefined) return;
    if (rec.closing_hex && (await fundingUnspent(ctx, rec))) {
      const what = rec.mutual_closes?.some((m) => m.txid === rec.closing_txid) ? 'the mutual close' : rec.state === 'closing' ? 'the CET' : 'the refund';
      await ctx.chain.broadcast(rec.closing_hex, what).then(
        () => ctx.log.info({ id, txid: rec.closing_txid }, 'DLC closing transaction sent again: the node did not know it'),
        (err: Error) => ctx.log.warn({ id, txid: rec.closing_txid, reason: err.message }, 'DLC closing transaction refused; next block retries'),
      );
    }
    return;
  }
  // Funding seen and confirmed, and a spend of the funding output, come as chain notifications (chain-notes.ts).
  if (rec.state !== 'confirmed') return;
  const { offer } = await parts(ctx, rec);
  const matured = ctx.autoclose && Date.now() / 1000 >= offer.contract_info.announcement.event.maturity_epoch;
  const locktime = offer.refund_locktime;
  const due = ctx.autorefund && (locktime >= 500_000_000 ? header.mediantime >= locktime : header.height >= locktime);
  // Only a contract the room would close or refund by itself asks the node whether its funding is still unspent.
  if (!matured && !due) return;
  if (!(await fundingUnspent(ctx, rec))) return; // spent: its block settles the contract (chain-notes.ts)
  if (matured) {
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
  if (due) {
    ctx.log.info({ id }, 'DLC refund locktime passed: refunding');
    await locksFree(ctx, () => refund(ctx, id, backgroundCaller('dlc', 'dlc.autorefund')));
  }
}

/** Runs fn after the current lock holder (followOne) returns: refund() takes the same contract lock. */
export function locksFree(ctx: DlcContext, fn: () => Promise<unknown>): Promise<void> {
  setImmediate(() => void fn().catch((err: Error) => ctx.log.warn({ reason: err.message }, 'DLC automatic close or refund failed; next block retries')));
  return Promise.resolve();
}
