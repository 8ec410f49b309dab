// A state channel counterparty written by hand for the tests: it speaks the room's messages (messages.ts) with keys
// it holds itself, so a test can make it send exactly the hostile values an anyad must refuse — a funding outpoint
// that is someone else's coin, a state that takes the other side's balance, a high-S signature. It builds the
// commitments with the room's own BOLT 3 code (transactions.ts): what it proves is how anyad treats the values,
// not that the construction is right (channels-bolt3.test.ts and the two-anyad suite cover that).

import { randomBytes } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import type * as bitcoin from 'bitcoinjs-lib';
import { chainHash } from '../../src/core/bitcoin-network.js';
import { perCommitmentPoint } from '../../src/adapters/channels/keys.js';
import { decodeMessage, encodeMessage, messageDigest, type Envelope, type MessageType } from '../../src/adapters/channels/messages.js';
import { MAX_INDEX, secretFromSeed } from '../../src/adapters/channels/shachain.js';
import {
  closingTx,
  commitmentTx,
  COMMITMENT_VBYTES,
  fundingScript,
  fundingSighash,
  p2wsh,
  type ChannelState,
  type ChannelTerms,
  type PartyKeys,
} from '../../src/adapters/channels/transactions.js';

const N = secp256k1.Point.Fn.ORDER;
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const REGTEST = chainHash('regtest');

type Role = 'opener' | 'accepter';

export class HandPeer {
  readonly priv = { funding: rnd(), revocation: rnd(), payment: rnd(), delayed: rnd() };
  readonly keys: PartyKeys = {
    funding: pub(this.priv.funding),
    revocation_basepoint: pub(this.priv.revocation),
    payment_basepoint: pub(this.priv.payment),
    delayed_payment_basepoint: pub(this.priv.delayed),
  };
  private readonly seed = randomBytes(32);
  id = '';
  role: Role = 'accepter';
  capacity = 0n;
  fee = 0n;
  /** What the peer requires of the anyad (the anyad's commitment waits it) and what the anyad requires of the peer. */
  delays = { mine: 144, theirs: 144 };
  theirs: PartyKeys | null = null;
  /** The anyad's per-commitment points by number. */
  theirPoints: Record<number, string> = {};
  funding: { txid: string; vout: number } | null = null;
  current: ChannelState = { number: 0, to_opener_sat: 0n, to_accepter_sat: 0n, app_hash: '00'.repeat(32) };
  /** The payout_script (hex) the peer's open or accept names, any value a test wants; undefined: none (an earlier anyad). */
  payoutScript: string | undefined;
  /** The anyad's payout_script as its open or accept named it. */
  theirPayout: string | undefined;

  constructor(readonly chain = REGTEST) {}

  secret(n: number): Uint8Array {
    return secretFromSeed(this.seed, MAX_INDEX - BigInt(n));
  }

  point(n: number): string {
    return hex(perCommitmentPoint(this.secret(n)));
  }

  /** A signed message of this peer's, as hex; highS: its envelope signature with s' = n - s. */
  message(type: MessageType, body: Record<string, unknown>, channel = this.id, opts: { highS?: boolean } = {}): string {
    const e: Envelope = { v: 1, type, chain: this.chain, channel, body };
    return encodeMessage(e, Buffer.from(this.sign(messageDigest(e), opts.highS), 'hex'));
  }

  read(msgHex: string): Envelope {
    return decodeMessage(msgHex).envelope;
  }

  terms(): ChannelTerms {
    const other = this.role === 'opener' ? 'accepter' : 'opener';
    return {
      funding_txid: this.funding!.txid,
      funding_vout: this.funding!.vout,
      capacity_sat: this.capacity,
      // The anyad's commitment waits what the peer required of it, the peer's what the anyad required.
      to_self_delay: { [other]: this.delays.mine, [this.role]: this.delays.theirs } as ChannelTerms['to_self_delay'],
      opener: this.role === 'opener' ? this.keys : this.theirs!,
      accepter: this.role === 'accepter' ? this.keys : this.theirs!,
      // The close pays the payout scripts when both messages named one (as the anyad builds it).
      ...(this.payoutScript !== undefined && this.theirPayout !== undefined
        ? { payout: { [this.role]: this.payoutScript, [other]: this.theirPayout } as NonNullable<ChannelTerms['payout']> }
        : {}),
    };
  }

  /** The peer's signature (DER hex) on the anyad's commitment of a state; highS: the same signature with s' = n - s. */
  signTheirCommitment(s: ChannelState, opts: { highS?: boolean } = {}): string {
    const t = this.terms();
    const holder = this.role === 'opener' ? 'accepter' : 'opener';
    const tx = commitmentTx(t, s, holder, Buffer.from(this.theirPoints[s.number]!, 'hex'));
    return this.sign(fundingSighash(tx, t), opts.highS);
  }

  signClose(s: ChannelState, opts: { highS?: boolean } = {}): string {
    const t = this.terms();
    return this.sign(fundingSighash(closingTx(t, s), t), opts.highS);
  }

  private sign(digest: Uint8Array, highS = false): string {
    const sig = secp256k1.Signature.fromBytes(secp256k1.sign(digest, this.priv.funding, { prehash: false, lowS: true }), 'compact');
    return hex((highS ? new secp256k1.Signature(sig.r, N - sig.s) : sig).toBytes('der'));
  }

  // ---- as the accepter of an anyad's open ----

  /** The accept for an anyad's open message; `delay` is what the peer requires of the anyad. */
  accept(openHex: string, delay = 144): string {
    const e = this.read(openHex);
    const b = e.body as Record<string, unknown> & { keys: PartyKeys };
    this.id = e.channel;
    this.role = 'accepter';
    this.theirs = b.keys;
    this.capacity = BigInt(b.capacity_sat as string);
    this.fee = BigInt(b.fee_rate_sat_vb as number) * COMMITMENT_VBYTES;
    const push = BigInt(b.push_sat as string);
    this.current = { number: 0, to_opener_sat: this.capacity - this.fee - push, to_accepter_sat: push, app_hash: b.app_hash as string };
    this.delays = { mine: delay, theirs: b.to_self_delay as number };
    this.theirPoints = { 0: b.first_point as string, 1: b.next_point as string };
    this.theirPayout = b.payout_script as string | undefined;
    return this.message('accept', { keys: this.keys, to_self_delay: delay, first_point: this.point(0), next_point: this.point(1), ...this.payoutField() });
  }

  /** The funding_signed for the anyad's funding_created. */
  fundingSigned(createdHex: string, opts: { highS?: boolean } = {}): string {
    const b = this.read(createdHex).body;
    this.funding = { txid: b.funding_txid as string, vout: b.funding_vout as number };
    return this.message('funding_signed', { sig: this.signTheirCommitment(this.current, opts) });
  }

  // ---- as the opener towards an anyad ----

  /** An open for an anyad's sc.accept: `delay` is what the peer requires of the anyad. */
  open(capacity: bigint, delay = 144, feeRate = 2): string {
    this.id = randomBytes(32).toString('hex');
    this.role = 'opener';
    this.capacity = capacity;
    this.fee = BigInt(feeRate) * COMMITMENT_VBYTES;
    this.current = { number: 0, to_opener_sat: capacity - this.fee, to_accepter_sat: 0n, app_hash: '00'.repeat(32) };
    this.delays.mine = delay;
    return this.message('open', {
      capacity_sat: capacity.toString(),
      push_sat: '0',
      fee_rate_sat_vb: feeRate,
      to_self_delay: delay,
      app_hash: this.current.app_hash,
      keys: this.keys,
      first_point: this.point(0),
      next_point: this.point(1),
      ...this.payoutField(),
    });
  }

  private payoutField(): { payout_script?: string } {
    return this.payoutScript === undefined ? {} : { payout_script: this.payoutScript };
  }

  /** Reads the anyad's accept: its keys, points and the delay it requires of the peer. */
  takeAccept(acceptHex: string): void {
    const b = this.read(acceptHex).body as Record<string, unknown> & { keys: PartyKeys };
    this.theirs = b.keys;
    this.delays.theirs = b.to_self_delay as number;
    this.theirPoints = { 0: b.first_point as string, 1: b.next_point as string };
    this.theirPayout = b.payout_script as string | undefined;
  }

  /** The 2-of-2 P2WSH output script of the channel. */
  fundingOutputScript(): Buffer {
    return p2wsh(fundingScript(this.keys.funding, this.theirs!.funding));
  }

  /** A funding_created naming any outpoint and any transaction (the hostile part), signed properly otherwise. */
  fundingCreated(txid: string, vout: number, fundingTx: bitcoin.Transaction | string | undefined): string {
    this.funding = { txid, vout };
    const body: Record<string, unknown> = { funding_txid: txid, funding_vout: vout, sig: this.signTheirCommitment(this.current) };
    if (fundingTx !== undefined) body.funding_tx = typeof fundingTx === 'string' ? fundingTx : fundingTx.toHex();
    return this.message('funding_created', body);
  }

  // ---- updates ----

  /** An update proposing `next` with the peer's signature on the anyad's commitment of it. */
  update(next: ChannelState, opts: { highS?: boolean } = {}): string {
    const body = {
      number: next.number,
      to_opener_sat: next.to_opener_sat.toString(),
      to_accepter_sat: next.to_accepter_sat.toString(),
      app_hash: next.app_hash,
    };
    return this.message('update', { ...body, sig: this.signTheirCommitment(next, opts) });
  }

  close(opts: { highS?: boolean } = {}): string {
    return this.message('close', { number: this.current.number, sig: this.signClose(this.current, opts) });
  }
}

function rnd(): Uint8Array {
  return secp256k1.utils.randomSecretKey();
}

function pub(k: Uint8Array): string {
  return hex(secp256k1.getPublicKey(k, true));
}
