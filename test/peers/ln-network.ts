// The in-memory "network" the Lightning test peers share, and the BOLT11 invoices they make. A payment goes from
// one peer to another only if the payer has the payee as a direct peer and the payee is running; the payee settles
// its own invoice and hands back the preimage. Invoices are real BOLT11, signed with the node's key (bolt11 package),
// so a real decoder (lightningd's schema shapes, ln-service's parsePaymentRequest) accepts them.
// What it does NOT prove: routing, HTLCs, onion packets (a keysend's preimage is handed over, not read from an onion),
// channel balances moving, gossip, fees beyond a flat 0.01%.

import { createHash, randomBytes } from 'node:crypto';
import bolt11 from 'bolt11';

export const REGTEST = { bech32: 'bcrt', pubKeyHash: 0x6f, scriptHash: 0xc4, validWitnessVersions: [0, 1] };

export type PayFailureKind = 'no_route' | 'unknown_hash' | 'already_paid';

export class PayFailure extends Error {
  constructor(readonly kind: PayFailureKind) {
    super(kind);
  }
}

export interface NetNode {
  readonly id: string;
  readonly online: boolean;
  readonly peers: Set<string>;
  /** Settles this node's open invoice with the hash, for amountMsat; returns the preimage (hex). */
  receive(hash: string, amountMsat: number): string;
  /**
   * A keysend arrives with its preimage (hex) in the onion: the node keeps it as a settled invoice of its own, or
   * throws PayFailure('unknown_hash') when it does not accept keysend (absent: a node that never does).
   */
  receiveKeysend?(preimage: string, amountMsat: number): void;
}

export class LnNetwork {
  readonly nodes = new Map<string, NetNode>();

  /** The payee, if `from` can reach it (a direct, online peer). */
  reach(from: NetNode, payee: string): NetNode {
    const to = this.nodes.get(payee);
    if (!to || !to.online || !from.peers.has(payee)) throw new PayFailure('no_route');
    return to;
  }

  /** Connects two online nodes as peers, or says why not. */
  connect(from: NetNode, to: string): NetNode {
    const other = this.nodes.get(to);
    if (!other || !other.online) throw new PayFailure('no_route');
    from.peers.add(to);
    other.peers.add(from.id);
    return other;
  }
}

export interface MadeInvoice {
  bolt11: string;
  hash: string;
  preimage: string;
  secret: string;
  timestamp: number;
}

/** A signed regtest BOLT11 invoice. */
export function makeInvoice(key: Buffer, amountMsat: number | null, description: string, expiry: number): MadeInvoice {
  const preimage = randomBytes(32);
  const hash = createHash('sha256').update(preimage).digest('hex');
  const secret = randomBytes(32).toString('hex');
  const timestamp = Math.floor(Date.now() / 1000);
  const tags = [
    { tagName: 'payment_hash', data: hash },
    { tagName: 'payment_secret', data: secret },
    { tagName: 'description', data: description },
    { tagName: 'expire_time', data: expiry },
    { tagName: 'min_final_cltv_expiry', data: 18 },
  ];
  const enc = bolt11.encode({ network: REGTEST, ...(amountMsat !== null ? { millisatoshis: String(amountMsat) } : {}), timestamp, tags } as never);
  const signed = bolt11.sign(enc, key);
  return { bolt11: signed.paymentRequest!, hash, preimage: preimage.toString('hex'), secret, timestamp };
}

export interface Decoded {
  payee: string;
  hash: string;
  amountMsat: number | null;
  description: string;
  timestamp: number;
  expiry: number;
  secret: string;
  signature: string;
}

/** Decodes and checks the signature; throws with bolt11's words when it is not a valid regtest invoice. */
export function decodeInvoice(s: string): Decoded {
  const d = bolt11.decode(s, REGTEST as never);
  const tag = (n: string): unknown => d.tags.find((t) => t.tagName === n)?.data;
  return {
    payee: String(d.payeeNodeKey),
    hash: String(tag('payment_hash')),
    amountMsat: d.millisatoshis ? Number(d.millisatoshis) : null,
    description: String(tag('description') ?? ''),
    timestamp: d.timestamp!,
    expiry: Number(tag('expire_time') ?? 3600),
    secret: String(tag('payment_secret') ?? ''),
    signature: String(d.signature),
  };
}

/** The flat fee the test network charges. */
export const feeFor = (amountMsat: number): number => Math.ceil(amountMsat * 0.0001);
