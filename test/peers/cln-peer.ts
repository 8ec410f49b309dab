// A Core Lightning test peer: lightningd's JSON-RPC on a Unix socket with its framing (requests are bare JSON
// objects, each response is followed by "\n\n") and the field shapes of Core Lightning's published per-method
// schemas for getinfo, listfunds, listpeers, connect, listpeerchannels, fundchannel, close, invoice, listinvoices,
// decode, pay, listpays, getroute, waitanyinvoice and wait (invoices/created). Invoices are real BOLT11, signed with
// the node's key (ln-network.ts). Peers share one in-memory network (with LND test peers too), so a payment from one
// settles another's invoice.
// What it does NOT prove: routing, HTLCs, channel state machines, on-chain funding (fundchannel makes a channel at
// once), gossip, fee behaviour, or anything about lightningd's database beyond "state survives a restart"; `close`
// closes at once mutually with an online peer, and with unilateraltimeout drops to chain only when the peer is away
// (lightningd waits for a mutual close meanwhile: that race is not reproduced).

import { randomBytes } from 'node:crypto';
import { unlink } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { decodeInvoice, feeFor, makeInvoice, PayFailure, type LnNetwork, type NetNode } from './ln-network.js';

interface Inv {
  label: string;
  bolt11: string;
  payment_hash: string;
  preimage: string;
  amount_msat: number | null;
  description: string;
  status: 'unpaid' | 'paid' | 'expired';
  expires_at: number;
  created_index: number;
  pay_index?: number;
  amount_received_msat?: number;
  paid_at?: number;
}

class RpcFail extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export class ClnPeer implements NetNode {
  readonly id: string;
  private readonly key = randomBytes(32);
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  readonly invoices: Inv[] = [];
  private payIndex = 0;
  readonly peers = new Set<string>();
  private readonly channels: Array<{
    peer_id: string;
    channel_id: string;
    short_channel_id: string;
    total_msat: number;
    to_us_msat: number;
    state: string;
    funding_txid: string;
  }> = [];
  private readonly pays: Array<Record<string, unknown>> = [];
  private readonly waiters: Array<() => void> = [];
  onchainSat = 5_000_000;
  /** While set, payments wait in flight until release() (to stand for a slow route). */
  holdPayments = false;
  private readonly held: Array<() => void> = [];

  constructor(
    private readonly net: LnNetwork,
    readonly socketPath: string,
    readonly alias: string,
  ) {
    this.id = Buffer.from(secp256k1.getPublicKey(this.key, true)).toString('hex');
    net.nodes.set(this.id, this);
  }

  get online(): boolean {
    return this.server !== undefined;
  }

  async start(): Promise<void> {
    await unlink(this.socketPath).catch(() => undefined);
    this.server = createServer((s) => this.accept(s));
    await new Promise<void>((r) => this.server!.listen(this.socketPath, () => r()));
  }

  /** Stops answering, as lightningd does when it stops; the state stays, as its database would. */
  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    this.server = undefined;
  }

  private accept(s: Socket): void {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => undefined);
    s.setEncoding('utf8');
    let buf = '';
    s.on('data', (chunk: string) => {
      buf += chunk;
      // No delimiter between requests: cut complete top-level JSON objects by counting braces outside strings.
      for (;;) {
        const end = objectEnd(buf);
        if (end < 0) break;
        const text = buf.slice(0, end);
        buf = buf.slice(end);
        let req: { id: unknown; method: string; params?: Record<string, unknown> };
        try {
          req = JSON.parse(text);
        } catch {
          s.write(`${JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } })}\n\n`);
          continue;
        }
        void this.handle(req.method, req.params ?? {}).then(
          (result) => s.writable && s.write(`${JSON.stringify({ jsonrpc: '2.0', id: req.id, result })}\n\n`),
          (err: RpcFail) =>
            s.writable && s.write(`${JSON.stringify({ jsonrpc: '2.0', id: req.id, error: { code: err.code ?? -1, message: err.message } })}\n\n`),
        );
      }
    });
  }

  private async handle(method: string, p: Record<string, unknown>): Promise<unknown> {
    switch (method) {
      case 'getinfo':
        return {
          id: this.id,
          alias: this.alias,
          color: '02aabb',
          num_peers: this.peers.size,
          num_pending_channels: 0,
          num_active_channels: this.channels.length,
          num_inactive_channels: 0,
          address: [],
          binding: [],
          version: 'v24.08-testpeer',
          blockheight: 300,
          network: 'regtest',
          fees_collected_msat: 0,
          'lightning-dir': '/tmp',
          our_features: {},
        };
      case 'listfunds':
        return {
          outputs: [
            {
              txid: '00'.repeat(32),
              output: 0,
              amount_msat: this.onchainSat * 1000,
              scriptpubkey: '0014' + '00'.repeat(20),
              status: 'confirmed',
              blockheight: 100,
              reserved: false,
            },
          ],
          channels: this.channels.map((c) => ({
            peer_id: c.peer_id,
            our_amount_msat: c.to_us_msat,
            amount_msat: c.total_msat,
            funding_txid: c.funding_txid,
            funding_output: 0,
            connected: true,
            state: c.state,
            short_channel_id: c.short_channel_id,
            channel_id: c.channel_id,
          })),
        };
      case 'listpeers':
        return {
          peers: [...this.peers].map((id) => ({
            id,
            connected: this.net.nodes.get(id)?.online === true,
            num_channels: this.channels.filter((c) => c.peer_id === id).length,
            netaddr: ['127.0.0.1:9735'],
            features: '08a0000a0a69a2',
          })),
        };
      case 'connect': {
        const id = String(p.id);
        try {
          this.net.connect(this, id);
        } catch {
          throw new RpcFail(401, `All addresses failed: Connection establishment: Connection refused`);
        }
        return { id, features: '08a0000a0a69a2', direction: 'out', address: { type: 'ipv4', address: '127.0.0.1', port: 9735 } };
      }
      case 'listpeerchannels':
        return {
          channels: this.channels.map((c) => ({
            peer_id: c.peer_id,
            peer_connected: this.net.nodes.get(c.peer_id)?.online === true,
            state: c.state,
            short_channel_id: c.short_channel_id,
            channel_id: c.channel_id,
            funding_txid: c.funding_txid,
            total_msat: c.total_msat,
            to_us_msat: c.to_us_msat,
          })),
        };
      case 'fundchannel': {
        const id = String(p.id);
        const amount = Number(p.amount);
        if (!this.peers.has(id)) throw new RpcFail(-1, `Unknown peer ${id}`);
        if (amount > this.onchainSat) throw new RpcFail(301, `Could not afford ${amount}sat using all 1 available UTXOs: ${this.onchainSat}sat short`);
        this.onchainSat -= amount;
        const txid = randomBytes(32).toString('hex');
        const ch = {
          peer_id: id,
          channel_id: randomBytes(32).toString('hex'),
          short_channel_id: `300x${this.channels.length + 1}x0`,
          total_msat: amount * 1000,
          to_us_msat: amount * 1000,
          state: 'CHANNELD_NORMAL',
          funding_txid: txid,
        };
        this.channels.push(ch);
        return { tx: '02000000', txid, outnum: 0, channel_id: ch.channel_id };
      }
      case 'close': {
        const i = this.channels.findIndex((c) => c.state === 'CHANNELD_NORMAL' && (c.channel_id === p.id || c.short_channel_id === p.id || c.peer_id === p.id));
        if (i < 0) throw new RpcFail(-32602, `id: Short channel ID not active: '${String(p.id)}'`);
        const ch = this.channels[i]!;
        if (!this.net.nodes.get(ch.peer_id)?.online && Number(p.unilateraltimeout ?? 0) > 0) {
          // lightningd's close: no mutual close with a peer that is away; after unilateraltimeout seconds it drops
          // to chain (its commitment broadcast) and the channel waits for it (AWAITING_UNILATERAL).
          await new Promise((r) => setTimeout(r, Number(p.unilateraltimeout) * 1000));
          ch.state = 'AWAITING_UNILATERAL';
          return { type: 'unilateral', tx: '02000000', txid: randomBytes(32).toString('hex') };
        }
        this.onchainSat += Math.floor(ch.to_us_msat / 1000);
        this.channels.splice(i, 1);
        return { type: 'mutual', tx: '02000000', txid: randomBytes(32).toString('hex') };
      }
      case 'invoice': {
        const label = String(p.label);
        if (this.invoices.some((i) => i.label === label)) throw new RpcFail(900, 'Duplicate label');
        const amount = p.amount_msat === 'any' ? null : Number(p.amount_msat);
        const expiry = Number(p.expiry ?? 604800);
        const made = makeInvoice(this.key, amount, String(p.description), expiry);
        const inv: Inv = {
          label,
          bolt11: made.bolt11,
          payment_hash: made.hash,
          preimage: made.preimage,
          amount_msat: amount,
          description: String(p.description),
          status: 'unpaid',
          expires_at: made.timestamp + expiry,
          created_index: this.invoices.length + 1,
        };
        this.invoices.push(inv);
        for (const w of this.waiters.splice(0)) w();
        return { payment_hash: made.hash, expires_at: inv.expires_at, bolt11: inv.bolt11, payment_secret: made.secret, created_index: inv.created_index };
      }
      case 'listinvoices':
        return {
          invoices: this.invoices
            .filter(
              (i) =>
                (p.payment_hash ? i.payment_hash === p.payment_hash : true) &&
                (p.label ? i.label === p.label : true) &&
                (p.index === 'created' ? i.created_index >= Number(p.start ?? 0) : true),
            )
            .map(invoiceJson),
        };
      case 'wait': {
        // Only the invoices subsystem's created index (what anyad follows).
        if (p.subsystem !== 'invoices' || p.indexname !== 'created') throw new RpcFail(-32602, 'only subsystem=invoices indexname=created in this test peer');
        const next = Number(p.nextvalue);
        for (;;) {
          const last = this.invoices.at(-1);
          if ((last?.created_index ?? 0) >= next)
            return {
              subsystem: 'invoices',
              created: last?.created_index ?? 0,
              ...(last ? { details: { status: last.status, label: last.label, description: last.description, bolt11: last.bolt11 } } : {}),
            };
          await new Promise<void>((r) => this.waiters.push(r));
          if (!this.server) throw new RpcFail(-1, 'lightningd stopping');
        }
      }
      case 'decode': {
        try {
          const d = decodeInvoice(String(p.string));
          return {
            type: 'bolt11 invoice',
            valid: true,
            currency: 'bcrt',
            created_at: d.timestamp,
            expiry: d.expiry,
            payee: d.payee,
            ...(d.amountMsat !== null ? { amount_msat: d.amountMsat } : {}),
            payment_hash: d.hash,
            description: d.description,
            min_final_cltv_expiry: 18,
            payment_secret: d.secret,
            signature: d.signature,
          };
        } catch (err) {
          throw new RpcFail(-32602, `string: Invalid bolt11: ${(err as Error).message}`);
        }
      }
      case 'pay': {
        let d;
        try {
          d = decodeInvoice(String(p.bolt11));
        } catch (err) {
          throw new RpcFail(-32602, `Invalid bolt11: ${(err as Error).message}`);
        }
        const amount = d.amountMsat ?? Number(p.amount_msat ?? 0);
        const fee = feeFor(amount);
        if (p.maxfee !== undefined && fee > Number(p.maxfee))
          throw new RpcFail(206, `Fee exceeds our fee budget: ${fee}msat > ${String(p.maxfee)}msat, discarding route`);
        // lightningd's pay plugin refuses a second pay while one for the same hash is pending: PAY_IN_PROGRESS (200,
        // common/jsonrpc_errors.h), the first attempt going on.
        if (this.pays.some((x) => x.payment_hash === d.hash && x.status === 'pending')) throw new RpcFail(200, 'Payment is already in progress');
        const entry: Record<string, unknown> = {
          bolt11: p.bolt11,
          destination: d.payee,
          payment_hash: d.hash,
          status: 'pending',
          created_at: Math.floor(Date.now() / 1000),
          amount_msat: amount,
          amount_sent_msat: amount + fee,
        };
        this.pays.push(entry);
        if (this.holdPayments) await new Promise<void>((r) => this.held.push(r));
        let preimage: string;
        try {
          preimage = this.net.reach(this, d.payee).receive(d.hash, amount);
        } catch (err) {
          entry.status = 'failed';
          const kind = (err as PayFailure).kind;
          // A payee that knows no open invoice for the hash (unknown, or paid already) fails it the same way.
          if (kind === 'unknown_hash' || kind === 'already_paid')
            throw new RpcFail(203, "Destination said it doesn't know invoice: incorrect_or_unknown_payment_details");
          throw new RpcFail(210, 'Ran out of routes to try after 1 attempt: see `paystatus`');
        }
        entry.status = 'complete';
        entry.preimage = preimage;
        return {
          destination: d.payee,
          payment_hash: d.hash,
          created_at: Date.now() / 1000,
          parts: 1,
          amount_msat: amount,
          amount_sent_msat: amount + fee,
          payment_preimage: preimage,
          status: 'complete',
        };
      }
      case 'getroute': {
        const id = String(p.id);
        const amount = Number(p.amount_msat);
        try {
          this.net.reach(this, id);
        } catch {
          throw new RpcFail(205, 'Could not find a route');
        }
        // One hop: what the payer sends is the amount plus the network's flat fee.
        return { route: [{ id, channel: '300x1x0', direction: 0, amount_msat: amount + feeFor(amount), delay: 9, style: 'tlv' }] };
      }
      case 'listpays':
        return { pays: this.pays.filter((x) => (p.payment_hash ? x.payment_hash === p.payment_hash : true) && (p.bolt11 ? x.bolt11 === p.bolt11 : true)) };
      case 'waitanyinvoice': {
        const last = Number(p.lastpay_index ?? 0);
        const deadline = p.timeout !== undefined ? Date.now() + Number(p.timeout) * 1000 : Infinity;
        for (;;) {
          const next = this.invoices.filter((i) => i.pay_index !== undefined && i.pay_index > last).sort((a, b) => a.pay_index! - b.pay_index!)[0];
          if (next) return invoiceJson(next);
          const left = deadline - Date.now();
          if (left <= 0) throw new RpcFail(904, 'Timed out');
          await new Promise<void>((r) => {
            const t = setTimeout(r, Math.min(left, 1000));
            this.waiters.push(() => {
              clearTimeout(t);
              r();
            });
          });
          if (!this.server) throw new RpcFail(-1, 'lightningd stopping');
        }
      }
      default:
        throw new RpcFail(-32601, `Unknown command '${method}'`);
    }
  }

  release(): void {
    this.holdPayments = false;
    for (const r of this.held.splice(0)) r();
  }

  receive(hash: string, amountMsat: number): string {
    const inv = this.invoices.find((i) => i.payment_hash === hash);
    if (!inv) throw new PayFailure('unknown_hash');
    if (inv.status === 'paid') throw new PayFailure('already_paid');
    this.settle(inv, amountMsat);
    return inv.preimage;
  }

  settle(inv: Inv, amount: number): void {
    inv.status = 'paid';
    inv.pay_index = ++this.payIndex;
    inv.amount_received_msat = amount;
    inv.paid_at = Math.floor(Date.now() / 1000);
    for (const w of this.waiters.splice(0)) w();
  }
}

function invoiceJson(i: Inv): Record<string, unknown> {
  return {
    label: i.label,
    bolt11: i.bolt11,
    payment_hash: i.payment_hash,
    ...(i.amount_msat !== null ? { amount_msat: i.amount_msat } : {}),
    status: i.status,
    description: i.description,
    expires_at: i.expires_at,
    created_index: i.created_index,
    ...(i.pay_index !== undefined
      ? { pay_index: i.pay_index, amount_received_msat: i.amount_received_msat, paid_at: i.paid_at, payment_preimage: i.preimage }
      : {}),
  };
}

/** The end (exclusive) of the first complete JSON object in s, or -1. */
function objectEnd(s: string): number {
  let depth = 0;
  let inStr = false;
  let esc = false;
  let started = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (inStr) {
      if (esc) esc = false;
      else if (c === '\\') esc = true;
      else if (c === '"') inStr = false;
      continue;
    }
    if (c === '"') inStr = true;
    else if (c === '{') {
      depth++;
      started = true;
    } else if (c === '}') {
      depth--;
      if (started && depth === 0) return i + 1;
    }
  }
  return -1;
}
