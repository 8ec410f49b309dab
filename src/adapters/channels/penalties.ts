// What the room takes back on chain for itself: the penalty for a revoked commitment of the counterparty's (signed
// with the revocation key its revealed secret gives), the sweep of our own to_local output after our delay, and the
// justice blob, the same penalty signed ahead of time and sealed for a tower. Each pays the channel's claim script
// (a wallet address kept in its record, payouts.ts; the payment basepoint without a wallet). A claim is sent once, then
// again until it confirms; a sweep's fee stays, a penalty's is half as high again for each block since the commitment
// came out (it must confirm before their delay ends), counted on the node's tip, so a version the node refused still
// leads to a higher one. A penalty is sent again only for a block above the node's tip when the last version was
// sent: the blocks a restarted anyad connects while catching up were mined before (a restart once sent several
// versions within 100 ms, each fee half again the last).

import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import * as bitcoin from 'bitcoinjs-lib';
import { contract, save, terms, type ChannelContext } from './context.js';
import { nodeTipHeight, spenderOf, tipHeight } from './chain-queries.js';
import { sealJustice, type JusticeBlob } from './justice.js';
import { perCommitmentPoint } from './keys.js';
import { hex, other, SIGHASH_ALL, type ChannelRecord } from './record.js';
import { claimScript, paysUs } from './payouts.js';
import { commitmentTx, DUST_LIMIT, p2wpkh, p2wsh, sweepVbytes, toLocalOf, toLocalSpend, toRemoteSpend, type ChannelState } from './transactions.js';

const N = secp256k1.Point.Fn.ORDER;
const big = (b: Uint8Array): bigint => BigInt(`0x${hex(b)}`);
const b32 = (n: bigint): Buffer => Buffer.from(n.toString(16).padStart(64, '0'), 'hex');

/** ECDSA with the revocation key of a revoked state: R·SHA256(R || P) + secret·SHA256(P || R), R our revocation basepoint. */
export function revocationSign(
  room: ChannelContext,
  rec: ChannelRecord,
  point: Uint8Array,
  secret: Uint8Array,
  digest: Buffer,
  caller: string,
): Promise<Buffer> {
  const rb = Buffer.from(rec.ours.revocation_basepoint, 'hex');
  const a = big(sha256(Buffer.concat([rb, point]))) % N;
  const b = big(sha256(Buffer.concat([point, rb]))) % N;
  return room.hsm.tweakedSign(rec.keys.revocation, digest, { mul: b32(a), add: b32((big(secret) * b) % N) }, caller, contract(rec, 'penalty'));
}

/** ECDSA with our delayed key of our commitment of a state: the basepoint's key plus SHA256(point || basepoint) (BOLT 3). */
export function delayedSign(room: ChannelContext, rec: ChannelRecord, point: Uint8Array, digest: Buffer, caller: string): Promise<Buffer> {
  const tweak = sha256(Buffer.concat([point, Buffer.from(rec.ours.delayed_payment_basepoint, 'hex')]));
  return room.hsm.tweakedSign(rec.keys.delayed, digest, { add: Buffer.from(tweak) }, caller, contract(rec, 'sweep'));
}

/**
 * The penalty for a revoked state of theirs, signed now and encrypted with its commitment's txid, for a tower
 * (another anyad's sc.towerwatch) to hold: the hint (the txid's first 16 bytes) tells the tower which
 * transaction to try it on, and until that commitment is on chain the tower cannot read it (BOLT 13 drafts' and
 * LND's towers work this way). Its fee is fixed: four times the channel's fee rate.
 */
export async function justiceBlob(room: ChannelContext, rec: ChannelRecord, s: ChannelState, secret: Buffer, caller: string): Promise<JusticeBlob | undefined> {
  const t = terms(rec);
  const point = perCommitmentPoint(secret);
  const commitment = commitmentTx(t, s, other(rec.role), point);
  const script = toLocalOf(t, other(rec.role), point);
  const vout = commitment.outs.findIndex((o) => Buffer.compare(Buffer.from(o.script), p2wsh(script)) === 0);
  if (vout < 0) return undefined; // they had nothing in that state: nothing to take
  // The record's claim script (a record without one: the payment key; the blob is made under the update's lock, where
  // no wallet address is taken).
  const payTo = rec.claim_script ? Buffer.from(rec.claim_script, 'hex') : p2wpkh(rec.ours.payment_basepoint);
  const spend = toLocalSpend(commitment, vout, script, payTo, BigInt(rec.fee_rate_sat_vb * 4) * sweepVbytes(payTo), 'penalty');
  const sig = await revocationSign(room, rec, point, secret, spend.digest, caller);
  spend.tx.setWitness(0, spend.witness(Buffer.concat([sig, SIGHASH_ALL])));
  return sealJustice(commitment.getId(), spend.tx.toHex());
}

/** The output a claim takes: a commitment's to_local output, its witness script, and how it is spent. */
export interface ClaimTarget {
  commitment: bitcoin.Transaction;
  /** The block the commitment is in (a penalty in the mempool: the next one). */
  height: number;
  vout: number;
  /** The to_local witness script; for 'remote', our payment basepoint (the P2WPKH's key). */
  script: Buffer;
  /** A to_local after our delay, a revoked to_local, or our to_remote of their commitment (no delay). */
  path: { sweep: number } | 'penalty' | 'remote';
  sign: (digest: Buffer) => Promise<Buffer>;
  /**
   * Whether the output's spend, once confirmed, closes the channel (default). A penalty whose commitment also holds
   * our to_remote does not: that output is claimed next (the record keeps one claim at a time).
   */
  closes?: boolean;
}

/**
 * Our sweep or penalty: sent once, then at every block until it confirms (see the header for its fee). 'settled'
 * once the output's spend is confirmed (ours, a tower's or theirs), else 'pending'.
 */
export async function claim(room: ChannelContext, rec: ChannelRecord, target: ClaimTarget): Promise<'settled' | 'pending'> {
  const { commitment, height, vout, script, path, sign, closes = true } = target;
  const kind = path === 'penalty' ? 'penalty' : 'sweep';
  const prev = rec.claim?.commitment === commitment.getId() && rec.claim.vout === vout ? rec.claim : null;
  // A new version only once a block mined after the last one was sent has come (a record without the height: now).
  const newBlock = kind === 'penalty' && prev !== null && (prev.tip_height === undefined || tipHeight(room.chain) > prev.tip_height);
  // The bitcoin room tells this output's spend from now on (ours, a tower's or theirs): no block scan to find it.
  const outpoint = `${commitment.getId()}:${vout}`;
  await room.notes.watchSpend({ outpoint, id: rec.id });
  if (!(await room.chain.utxo(commitment.getId(), vout))) {
    // Spent already: by a version of ours (any one sent may be the one that confirms: a node without replacement
    // keeps the first), by a tower's penalty for us (it pays our claim script or payment key too), or by them. Ours in the mempool:
    // a sweep waits for its block, a penalty too until a new block came, then it is sent again with a higher fee below.
    const tip = tipHeight(room.chain);
    const told = room.notes.spendOf({ outpoint, id: rec.id });
    const spent = told
      ? { tx: bitcoin.Transaction.fromHex(told.hex), height: told.height }
      : await spenderOf(room.chain, commitment.getId(), vout, height, tip, prev?.sent ?? []);
    const mine = spent && prev?.sent.includes(spent.tx.getId());
    if (!spent || (spent.height === null && !(mine && newBlock))) return 'pending'; // in the mempool: wait for its block
    if (spent.height !== null) {
      // Told once: when it closes the channel, or while the record still holds this claim (then the next claim, of
      // our to_remote, takes the slot; a spend found settled without our claim, a tower's, is not told at each block).
      if (closes || prev) {
        const ours = spent.tx.outs.some((o) => paysUs(rec, o.script));
        await save(room, { ...rec, state: closes ? 'closed' : rec.state, claim: null }, rec.state);
        if (ours) room.log.info({ id: rec.id, txid: spent.tx.getId(), kind }, `channel ${kind} confirmed (paying us)`);
        else room.log.error({ id: rec.id, txid: spent.tx.getId(), kind }, `the ${kind} output was taken by another transaction: the counterparty's`);
      }
      return 'settled';
    }
  }
  // Where it pays: taken once (and kept) before the first version is signed; every later one pays the same script.
  const { rec: withScript, payTo } = await claimScript(room, rec);
  rec = withScript;
  if (path === 'remote' && payTo.equals(p2wpkh(rec.ours.payment_basepoint))) {
    // No wallet to sweep to: the to_remote output already pays the claim script (the payment key).
    await save(room, { ...rec, state: 'closed' }, rec.state);
    return 'settled';
  }
  const value = commitment.outs[vout]!.value;
  let fee = BigInt(rec.fee_rate_sat_vb) * sweepVbytes(payTo);
  if (kind === 'penalty') {
    // Half as high again for each block since the commitment came out (its own block counts once mined), from the
    // node's tip: a version the node refused (under its minimum fee) or never kept still leads to a higher next one.
    const waited = Math.max(0, nodeTipHeight(room.chain) - height + 1);
    for (let i = 0; i < waited && fee <= value / 2n; i++) fee = (fee * 3n) / 2n;
  } else if (prev) fee = BigInt(prev.fee_sat);
  if (fee > value / 2n) fee = value / 2n;
  if (path === 'remote' && value - fee < DUST_LIMIT) {
    // Too small to sweep at this fee: the coin stays with the keystore (its payment key), as without a wallet.
    room.log.info({ id: rec.id, value_sat: Number(value), fee_sat: Number(fee) }, 'our to_remote is too small to sweep; the keystore keeps it');
    await save(room, { ...rec, state: 'closed' }, rec.state);
    return 'settled';
  }
  const spend = path === 'remote' ? toRemoteSpend(commitment, vout, script, payTo, fee) : toLocalSpend(commitment, vout, script, payTo, fee, path);
  const sig = await sign(spend.digest);
  spend.tx.setWitness(0, spend.witness(Buffer.concat([sig, SIGHASH_ALL])));
  const txid = spend.tx.getId();
  // The node's tip now (before the send: a block found meanwhile bumps the next version rather than being missed).
  const sentAt = nodeTipHeight(room.chain);
  try {
    await room.chain.broadcast(spend.tx.toHex(), `the ${kind}`);
  } catch (err) {
    // Kept as it was: the version already in the node's mempool (if any) stays the one to follow.
    room.log.warn({ id: rec.id, kind, reason: (err as Error).message }, `channel ${kind} refused; next block retries`);
    return 'pending';
  }
  await save(
    room,
    {
      ...rec,
      claim: { txid, fee_sat: fee.toString(), kind, vout, commitment: commitment.getId(), sent: [...(prev?.sent ?? []), txid].slice(-20), tip_height: sentAt },
    },
    rec.state,
  );
  room.log.info({ id: rec.id, txid, kind, fee_sat: Number(fee) }, `channel ${kind} broadcast`);
  return 'pending';
}
