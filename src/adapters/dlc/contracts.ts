// The room's contracts at rest: the records in the room's sublevel (each transition written synced, then published
// as dlc.contract), the messages as exchanged (sealed by the HSM room, sealing.ts; records of an earlier anyad in
// clear sealed once the keystore opens), and a signed contract's decoded parts (its transactions, built once in a
// worker and cached).

import * as bitcoin from 'bitcoinjs-lib';
import { ErrorCode, rpcError, RpcError } from '../../core/errors.js';
import type { BatchOp } from '../../core/store.js';
import { decodeAccept, decodeSign, HARD_LIMITS, type DlcLimits, type Offer } from './messages.js';
import { packMessages, publicAccept, publicSign, sealPurpose, unpackMessages, type Messages } from './sealing.js';
import { DLC_CONTRACT } from './topics.js';
import { buildFunding, buildRefund, type DlcTransactions } from './transactions.js';
import { acceptTerms, type ContractParts, type ContractRecord, type ContractState, type DlcContext } from './context.js';

export async function list(ctx: DlcContext): Promise<ContractRecord[]> {
  const out: ContractRecord[] = [];
  for await (const [, v] of ctx.db.iterator({ gte: 'c:', lt: 'c;' })) out.push(v as ContractRecord);
  return out.sort((a, b) => a.created.localeCompare(b.created));
}

export async function get(ctx: DlcContext, id: string): Promise<ContractRecord> {
  const rec = (await ctx.db.get(`c:${id}`)) as ContractRecord | undefined;
  if (!rec) throw rpcError('NotFound', `no contract ${id}`);
  return rec;
}

/** Writes the record (synced, with any other writes of the same step) and then tells subscribers. */
export async function save(ctx: DlcContext, rec: ContractRecord, previous: ContractState | null, extra: BatchOp[] = []): Promise<ContractRecord> {
  rec.updated = new Date().toISOString();
  const ops: BatchOp[] = [{ type: 'put', sublevel: ctx.db, key: `c:${rec.id}`, value: rec }, ...extra];
  await ctx.store.batch(ops, { sync: true });
  const txid = rec.state === 'closing' || rec.state === 'closed' || rec.state === 'refunding' || rec.state === 'refunded' ? rec.closing_txid : rec.funding_txid;
  ctx.bus.publish(DLC_CONTRACT, { id: rec.id, contract_id: rec.contract_id, state: rec.state, previous, txid, outcome: rec.outcome });
  return rec;
}

/** offer_dlc read in a worker under `limits` (a counterparty's: the config's; one kept already: the build's). */
export async function readOffer(ctx: DlcContext, offerHex: string, limits: DlcLimits, what: string): Promise<Offer> {
  return ctx.workers.run<Offer>({ op: 'decodeOffer', offer: Buffer.from(offerHex, 'hex'), limits }, what);
}

/** The messages as one value sealed for this contract (Locked while the keystore is locked). */
export async function seal(ctx: DlcContext, id: string, m: Messages): Promise<string> {
  return ctx.hsm.sealSecret(sealPurpose(id), packMessages(m));
}

/** The accept and sign as exchanged, with every signature: opened from the sealed value, or a clear old record's. */
export async function messages(ctx: DlcContext, rec: ContractRecord): Promise<Messages> {
  if (rec.sealed === undefined) return { accept: rec.accept, sign: rec.sign };
  return unpackMessages(await ctx.hsm.openSecret(sealPurpose(rec.id), rec.sealed));
}

/** The counterparty's CET adaptor signatures and refund signature (sealed at rest): for a close only. */
export async function theirSignatures(ctx: DlcContext, rec: ContractRecord): Promise<{ adaptor: string[]; refund: string }> {
  const m = await messages(ctx, rec);
  if (!m.accept || !m.sign) throw rpcError('Conflict', `contract ${rec.id} is ${rec.state}: not signed by both parties yet`);
  const theirs = rec.role === 'offerer' ? decodeAccept(Buffer.from(m.accept, 'hex')) : decodeSign(Buffer.from(m.sign, 'hex'));
  return { adaptor: theirs.cet_adaptor_signatures, refund: theirs.refund_signature };
}

/**
 * dlc.get's messages: as exchanged (opened) for a caller that may act on the contract while the keystore is open;
 * without their CET and refund signatures (what is kept in clear) for a readonly caller, or while it is locked
 * (dlc.get keeps answering the contract's state then). `signatures` says which.
 */
export async function exchanged(
  ctx: DlcContext,
  id: string,
  withSignatures: boolean,
): Promise<{ rec: ContractRecord; accept: string | null; sign: string | null; signatures: 'included' | 'omitted' }> {
  const rec = await get(ctx, id);
  if (withSignatures && (rec.accept !== null || rec.sign !== null)) {
    try {
      return { rec, ...(await messages(ctx, rec)), signatures: 'included' };
    } catch (err) {
      if (!(err instanceof RpcError && err.code === ErrorCode.Locked)) throw err;
    }
  }
  return { rec, accept: rec.accept && publicAccept(rec.accept), sign: rec.sign && publicSign(rec.sign), signatures: 'omitted' };
}

/**
 * Seals the records an earlier anyad wrote in clear (no `sealed`), once the keystore is open: each under its
 * contract's lock, read again there; then compacts the room's range, for LevelDB keeps an overwritten value in
 * its files until then. Stops at the first refusal (Locked): the next block tries again.
 */
export async function resealClear(ctx: DlcContext): Promise<void> {
  if (ctx.sealing.allSealed) return;
  let sealed = 0;
  try {
    for (const r of await list(ctx)) {
      if (r.sealed !== undefined || (r.accept === null && r.sign === null)) continue;
      const done = await ctx.locks.run(r.id, async () => {
        const rec = await get(ctx, r.id);
        if (rec.sealed !== undefined) return false;
        const full: Messages = { accept: rec.accept, sign: rec.sign };
        const next: ContractRecord = {
          ...rec,
          accept: full.accept && publicAccept(full.accept),
          sign: full.sign && publicSign(full.sign),
          sealed: await seal(ctx, rec.id, full),
        };
        await ctx.store.batch([{ type: 'put', sublevel: ctx.db, key: `c:${rec.id}`, value: next }], { sync: true });
        return true;
      });
      if (done) sealed++;
    }
    ctx.sealing.allSealed = true; // every record written from now on is sealed when written
  } catch (err) {
    ctx.log.debug({ reason: (err as Error).message }, 'DLC records in clear wait for the keystore to be sealed');
  } finally {
    if (sealed > 0) {
      await ctx.store.compact(ctx.db).catch((err: Error) => ctx.log.warn({ reason: err.message }, 'DLC room compaction failed'));
      ctx.log.info({ sealed }, 'DLC contract signatures sealed by the HSM room');
    }
  }
}

/** Both parties' messages of a signed contract (terms: no signature needed), its transactions, and the keys. */
export async function parts(ctx: DlcContext, rec: ContractRecord): Promise<ContractParts> {
  if (!rec.accept || !rec.sign) throw rpcError('Conflict', `contract ${rec.id} is ${rec.state}: not signed by both parties yet`);
  // A signed contract's messages never change: decode them (an oracle signature check, a numeric curve's
  // evaluation) and build its transactions once, in a worker, not at every block the follower looks at it.
  const cached = ctx.partsCache.get(rec.id);
  if (cached) return cached;
  const offer = await readOffer(ctx, rec.offer, HARD_LIMITS, `the contract ${rec.id.slice(0, 16)}`);
  const accept = decodeAccept(Buffer.from(rec.accept, 'hex'));
  const f = buildFunding(offer, accept);
  const cets = (await ctx.workers.run<string[]>({ op: 'cets', offer, accept: acceptTerms(accept) }, `the CETs of ${rec.id.slice(0, 16)}`)).map((h) =>
    bitcoin.Transaction.fromHex(h),
  );
  const t: DlcTransactions = { ...f, cets, refund: buildRefund(offer, accept, f) };
  const offerer = rec.role === 'offerer';
  const theirKey = offerer ? accept.funding_pubkey : offer.funding_pubkey;
  const parts: ContractParts = {
    offer,
    accept,
    t,
    theirKey,
    ourKey: offerer ? offer.funding_pubkey : accept.funding_pubkey,
    signing: { kind: 'dlc', contract: rec.id, counterparty: theirKey },
    ownCollateral: offerer ? offer.offer_collateral : accept.accept_collateral,
  };
  ctx.partsCache.set(rec.id, parts);
  return parts;
}
