// Where what a channel pays this side on chain goes (issue 27 item 4). With the wallet room on: a wallet address
// taken once per channel and kept in its record — the payout script our open or accept names for the cooperative
// close (BOLT 2's upfront_shutdown_script), and where our sweeps and penalties pay — so the wallet sees those coins
// as its own (it matches every block's outputs against its addresses) and lists them in its history. With the
// wallet off: the payment basepoint's P2WPKH, as before. The counterparty's payout script is an adversary's input:
// only the scripts BOLT 2's shutdown rules allow are taken.

import * as bitcoin from 'bitcoinjs-lib';
import { save, type ChannelContext } from './context.js';
import { MessageError } from './messages.js';
import { hex, type ChannelRecord } from './record.js';
import { p2wpkh, payoutScriptProblem } from './transactions.js';

/** A new wallet address's output script (hex); undefined when the wallet room is off or does not answer (logged). */
async function walletScript(room: ChannelContext, id: string, why: string): Promise<string | undefined> {
  if (!room.wallet) return undefined;
  try {
    return hex(bitcoin.address.toOutputScript(await room.wallet.newAddress(), room.net));
  } catch (err) {
    // A channel is never refused for it: its coins go to the payment basepoint instead, as without a wallet.
    room.log.warn({ id, reason: (err as Error).message }, `the wallet gave no address for the channel's ${why}: paying its payment key`);
    return undefined;
  }
}

/**
 * The payout script a new channel's open or accept names, and where its sweeps and penalties will pay: a wallet
 * address's (taken here, once), or the payment basepoint's P2WPKH.
 */
export async function ourPayout(room: ChannelContext, rec: Pick<ChannelRecord, 'id' | 'ours'>): Promise<{ our_payout: string; claim_script?: string }> {
  const w = await walletScript(room, rec.id, 'payout');
  return w ? { our_payout: w, claim_script: w } : { our_payout: hex(p2wpkh(rec.ours.payment_basepoint)) };
}

/** The payout_script an open or accept names (undefined: none, an earlier anyad's message), refused unless BOLT 2 allows it. */
export function readPayout(body: Record<string, unknown>): string | undefined {
  const v = body.payout_script;
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length < 2 || v.length % 2 !== 0 || !/^[0-9a-f]+$/.test(v)) throw new MessageError('payout_script must be lowercase hex');
  const problem = payoutScriptProblem(Buffer.from(v, 'hex'));
  if (problem) throw new MessageError(`payout_script ${problem}`);
  return v;
}

/**
 * Where a sweep or penalty of the channel pays: the script its record keeps; a record without one (an earlier
 * anyad's, or one made while the wallet room was off) takes a wallet address now and keeps it before anything is
 * signed on it, so a fee bump or a restart pays the same script. Under the channel's lock.
 */
export async function claimScript(room: ChannelContext, rec: ChannelRecord): Promise<{ rec: ChannelRecord; payTo: Buffer }> {
  if (rec.claim_script) return { rec, payTo: Buffer.from(rec.claim_script, 'hex') };
  const w = await walletScript(room, rec.id, 'sweep or penalty');
  if (!w) return { rec, payTo: p2wpkh(rec.ours.payment_basepoint) };
  const saved = await save(room, { ...rec, claim_script: w }, rec.state);
  return { rec: saved, payTo: Buffer.from(w, 'hex') };
}

/** True when an output script is one our claims pay (the kept claim script, or the payment basepoint's P2WPKH). */
export function paysUs(rec: ChannelRecord, script: Uint8Array): boolean {
  const s = Buffer.from(script);
  return s.equals(p2wpkh(rec.ours.payment_basepoint)) || (rec.claim_script !== undefined && s.equals(Buffer.from(rec.claim_script, 'hex')));
}

/** Where a channel pays, as addresses (null: not known yet, or a script no address encodes). */
export interface PayoutView {
  close: string | null;
  their_close: string | null;
  claim: string | null;
}

export function payoutView(net: bitcoin.Network, rec: ChannelRecord): PayoutView {
  const address = (script: string | Buffer): string | null => {
    try {
      return bitcoin.address.fromOutputScript(typeof script === 'string' ? Buffer.from(script, 'hex') : script, net);
    } catch {
      return null;
    }
  };
  const agreed = rec.our_payout !== undefined && rec.their_payout !== undefined;
  return {
    // Known once the counterparty answered: whether its message named a payout script decides ours too.
    close: rec.theirs ? address(agreed ? rec.our_payout! : p2wpkh(rec.ours.payment_basepoint)) : null,
    their_close: rec.theirs ? address(agreed ? rec.their_payout! : p2wpkh(rec.theirs.payment_basepoint)) : null,
    claim: address(rec.claim_script ?? p2wpkh(rec.ours.payment_basepoint)),
  };
}
