// The LND test peer's Lightning service (see lnd-peer.ts for what the peer proves): GetInfo, WalletBalance,
// ChannelBalance, ListPeers, ConnectPeer, ListChannels, PendingChannels, OpenChannel, CloseChannel, AddInvoice,
// LookupInvoice, ListInvoices, DecodePayReq and SubscribeInvoices, answering with the fields and words LND uses.
//
// SubscribeInvoices follows LND's invoice registry (lnd invoices/invoiceregistry.go): the backlog is every invoice
// added after add_index in its current state, then every invoice settled after settle_index in settle order; an index
// of 0 replays nothing (channeldb InvoicesAddedSince / InvoicesSettledSince); live events go through notify().

import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { decodeInvoice, makeInvoice } from './ln-network.js';
import { Fail, failStream, type Guards, type Obj } from './lnd-peer-grpc.js';
import { channelJson, invoiceJson, notify, type LChan, type LInv, type LndState } from './lnd-peer-state.js';

/** lnrpc.PendingChannelsResponse.PendingChannel: a channel waiting for its funding or closing transaction. */
const pendingChannel = (c: LChan): Obj => ({
  remote_node_pub: c.peer,
  channel_point: `${c.txid}:${c.vout}`,
  capacity: String(c.capacity),
  local_balance: String(c.local),
  remote_balance: String(c.capacity - c.local),
  local_chan_reserve_sat: '1000',
  remote_chan_reserve_sat: '1000',
  initiator: 'INITIATOR_LOCAL',
  commitment_type: 'ANCHORS',
  num_forwarding_packages: '0',
  chan_status_flags: '',
  private: false,
  memo: '',
});

export function lightningHandlers(s: LndState, { guard, guardStream }: Guards): grpc.UntypedServiceImplementation {
  return {
    GetInfo: guard(() => ({
      version: '0.20.0-beta commit=testpeer',
      commit_hash: '0'.repeat(40),
      identity_pubkey: s.node.id,
      alias: s.alias,
      color: '#3399ff',
      num_pending_channels: 0,
      num_active_channels: s.channels.length,
      num_inactive_channels: 0,
      num_peers: s.node.peers.size,
      block_height: 300,
      block_hash: '11'.repeat(32),
      best_header_timestamp: String(Math.floor(Date.now() / 1000)),
      synced_to_chain: s.knobs.synced,
      synced_to_graph: true,
      testnet: false,
      chains: [s.knobs.chain],
      uris: [`${s.node.id}@127.0.0.1:9735`],
      features: { 0: { name: 'data-loss-protect', is_required: true, is_known: true } },
    })),
    WalletBalance: guard(() => ({
      total_balance: String(s.knobs.onchainSat),
      confirmed_balance: String(s.knobs.onchainSat),
      unconfirmed_balance: '0',
      locked_balance: '0',
      reserved_balance_anchor_chan: '0',
      account_balance: {},
    })),
    ChannelBalance: guard(() => {
      const local = s.channels.reduce((a, c) => a + c.local, 0);
      const remote = s.channels.reduce((a, c) => a + c.capacity - c.local, 0);
      const amt = (sat: number): Obj => ({ sat: String(sat), msat: String(sat * 1000) });
      return {
        balance: String(local),
        pending_open_balance: '0',
        local_balance: amt(local),
        remote_balance: amt(remote),
        unsettled_local_balance: amt(0),
        unsettled_remote_balance: amt(0),
        pending_open_local_balance: amt(0),
        pending_open_remote_balance: amt(0),
      };
    }),
    ListPeers: guard(() => ({
      peers: [...s.node.peers]
        .filter((id) => s.net.nodes.get(id)?.online)
        .map((id) => ({
          pub_key: id,
          address: '127.0.0.1:9735',
          bytes_sent: '100',
          bytes_recv: '100',
          sat_sent: '0',
          sat_recv: '0',
          inbound: false,
          ping_time: '1000',
          sync_type: 'ACTIVE_SYNC',
          features: {},
          errors: [],
          flap_count: 0,
          last_flap_ns: '0',
          last_ping_payload: Buffer.alloc(0),
        })),
    })),
    ConnectPeer: guard((req) => {
      const addr = req.addr as { pubkey: string; host: string };
      if (addr.pubkey === s.node.id) throw new Fail(grpc.status.UNKNOWN, 'cannot make connection to self');
      if (s.node.peers.has(addr.pubkey) && s.net.nodes.get(addr.pubkey)?.online)
        throw new Fail(grpc.status.UNKNOWN, `already connected to peer: ${addr.pubkey}@${addr.host}`);
      try {
        s.net.connect(s.node, addr.pubkey);
      } catch {
        throw new Fail(grpc.status.UNKNOWN, `dial tcp ${addr.host}: connect: connection refused`);
      }
      return {};
    }),
    ListChannels: guard(() => ({ channels: s.channels.filter((c) => !c.pending && !c.closing).map((c) => channelJson(s, c)) })),
    PendingChannels: guard(() => ({
      total_limbo_balance: '0',
      pending_open_channels: s.channels
        .filter((c) => c.pending)
        .map((c) => ({
          channel: pendingChannel(c),
          commit_fee: '2810',
          commit_weight: '772',
          fee_per_kw: '2500',
          funding_expiry_blocks: 2016,
          confirmations_until_active: 3,
          confirmation_height: 0,
        })),
      pending_force_closing_channels: [],
      // lnrpc.PendingChannelsResponse.WaitingCloseChannel: a closing transaction broadcast, not yet confirmed.
      waiting_close_channels: s.channels
        .filter((c) => c.closing)
        .map((c) => ({
          channel: pendingChannel(c),
          limbo_balance: String(c.local),
          commitments: {
            local_txid: c.closing,
            remote_txid: '',
            remote_pending_txid: '',
            local_commit_fee_sat: '2810',
            remote_commit_fee_sat: '2810',
            remote_pending_commit_fee_sat: '0',
          },
          closing_txid: c.closing,
        })),
    })),
    OpenChannel: guardStream((call) => {
      const req = call.request;
      const peer = Buffer.from(req.node_pubkey as Buffer).toString('hex');
      const amount = Number(req.local_funding_amount);
      if (!s.node.peers.has(peer) || !s.net.nodes.get(peer)?.online) return failStream(call, grpc.status.UNKNOWN, `peer ${peer} is not online`);
      if (amount > s.knobs.onchainSat)
        return failStream(
          call,
          grpc.status.UNKNOWN,
          `not enough witness outputs to create funding transaction, need ${amount / 1e8} BTC only have ${s.knobs.onchainSat / 1e8} BTC available`,
        );
      s.knobs.onchainSat -= amount;
      const txid = randomBytes(32).toString('hex');
      const ch: LChan = { pending: true, txid, vout: 0, chan_id: '0', peer, capacity: amount, local: amount };
      s.channels.push(ch);
      call.write({ chan_pending: { txid: Buffer.from(txid, 'hex').reverse(), output_index: 0 }, pending_chan_id: randomBytes(32) });
      call.end();
    }),
    CloseChannel: guardStream((call) => {
      const cp = call.request.channel_point as { funding_txid_bytes: Buffer; output_index: number };
      const txid = Buffer.from(cp.funding_txid_bytes).reverse().toString('hex');
      const i = s.channels.findIndex((c) => c.txid === txid && c.vout === cp.output_index && !c.closing);
      if (i < 0) return failStream(call, grpc.status.UNKNOWN, 'unable to find channel');
      const c = s.channels[i]!;
      const closing = randomBytes(32);
      if (call.request.force) {
        // lnd's rpcserver: a force close broadcasts the latest commitment; the channel waits for it to confirm.
        c.closing = Buffer.from(closing).reverse().toString('hex');
      } else {
        if (!s.node.peers.has(c.peer) || !s.net.nodes.get(c.peer)?.online)
          return failStream(
            call,
            grpc.status.UNKNOWN,
            'unable to gracefully close channel while peer is offline (try force closing it instead): channel link not found',
          );
        s.knobs.onchainSat += c.local;
        s.channels.splice(i, 1);
      }
      call.write({ close_pending: { txid: closing, output_index: 0 } });
      call.end();
    }),
    AddInvoice: guard((req) => {
      const msat = Number(req.value_msat) || Number(req.value) * 1000;
      const expiry = Number(req.expiry) || 86400;
      const made = makeInvoice(s.key, msat > 0 ? msat : null, String(req.memo ?? ''), expiry);
      const inv: LInv = {
        memo: String(req.memo ?? ''),
        r_preimage: Buffer.from(made.preimage, 'hex'),
        r_hash: Buffer.from(made.hash, 'hex'),
        value_msat: msat,
        creation_date: made.timestamp,
        expiry,
        payment_request: made.bolt11,
        payment_addr: Buffer.from(made.secret, 'hex'),
        add_index: ++s.addIndex,
        settle_index: 0,
        settle_date: 0,
        amt_paid_msat: 0,
        state: 'OPEN',
      };
      s.invoices.push(inv);
      notify(s, inv);
      return { r_hash: inv.r_hash, payment_request: inv.payment_request, add_index: String(inv.add_index), payment_addr: inv.payment_addr };
    }),
    LookupInvoice: guard((req) => {
      const hash = Buffer.from(req.r_hash as Buffer).toString('hex');
      const inv = s.invoices.find((i) => i.r_hash.toString('hex') === hash);
      if (!inv) throw new Fail(grpc.status.UNKNOWN, 'unable to locate invoice');
      return invoiceJson(inv);
    }),
    ListInvoices: guard((req) => {
      // Newest first (reversed, as ln-service's getInvoices asks) or forward from index_offset; pending_only.
      const max = Number(req.num_max_invoices) || 100;
      const offset = Number(req.index_offset) || Infinity;
      const pool = req.pending_only ? s.invoices.filter((i) => i.state === 'OPEN') : s.invoices;
      const page = req.reversed
        ? pool.filter((i) => i.add_index < offset).slice(-max)
        : pool.filter((i) => i.add_index > (Number(req.index_offset) || 0)).slice(0, max);
      return { invoices: page.map(invoiceJson), first_index_offset: String(page[0]?.add_index ?? 0), last_index_offset: String(page.at(-1)?.add_index ?? 0) };
    }),
    DecodePayReq: guard((req) => {
      let d;
      try {
        d = decodeInvoice(String(req.pay_req));
      } catch (err) {
        throw new Fail(grpc.status.UNKNOWN, `invalid payment request: ${(err as Error).message}`);
      }
      const msat = d.amountMsat ?? 0;
      return {
        destination: d.payee,
        payment_hash: d.hash,
        num_satoshis: String(Math.floor(msat / 1000)),
        timestamp: String(d.timestamp),
        expiry: String(d.expiry),
        description: d.description,
        description_hash: '',
        fallback_addr: '',
        cltv_expiry: '18',
        route_hints: [],
        payment_addr: Buffer.from(d.secret, 'hex'),
        num_msat: String(msat),
        features: {},
        blinded_paths: [],
      };
    }),
    SubscribeInvoices: guardStream((call) => {
      const addAfter = Number(call.request.add_index ?? 0);
      const settleAfter = Number(call.request.settle_index ?? 0);
      const attach = (): void => {
        if (call.cancelled || call.destroyed) return;
        // LND replays adds after add_index (current state) and then settlements after settle_index (each only
        // when non-zero), then streams.
        if (addAfter > 0) for (const i of s.invoices.filter((x) => x.add_index > addAfter)) call.write(invoiceJson(i));
        if (settleAfter > 0)
          for (const i of s.invoices.filter((x) => x.settle_index > settleAfter).sort((a, b) => a.settle_index - b.settle_index)) call.write(invoiceJson(i));
        const sub = { call, addIndex: addAfter, settleIndex: settleAfter, macaroon: String(call.metadata.get('macaroon')[0]) };
        s.subscribers.add(sub);
        call.on('cancelled', () => s.subscribers.delete(sub));
      };
      if (s.knobs.subscribeDelayMs > 0) setTimeout(attach, s.knobs.subscribeDelayMs);
      else attach();
    }),
  };
}
