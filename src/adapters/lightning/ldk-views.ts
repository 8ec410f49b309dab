// LDK's peer and channel details in the shapes every backend answers (backend.ts).

import * as ldk from 'lightningdevkit';
import type { LnBalance, LnChannel, LnPeer } from './backend.js';
import { hashHex, hex } from './ldk/wasm.js';

export function peerOf(p: ldk.PeerDetails): LnPeer {
  const a = p.get_socket_address();
  return { id: hex(p.get_counterparty_node_id()), connected: true, address: a instanceof ldk.Option_SocketAddressZ_Some ? a.some.to_str() : null };
}

/** A short channel id as BOLT 7 writes it: block x tx x output. */
function scid(v: bigint): string {
  return `${v >> 40n}x${(v >> 16n) & 0xffffffn}x${v & 0xffffn}`;
}

const closing = (c: ldk.ChannelDetails): boolean => {
  const shutdown = c.get_channel_shutdown_state();
  return shutdown instanceof ldk.Option_ChannelShutdownStateZ_Some && shutdown.some !== ldk.ChannelShutdownState.LDKChannelShutdownState_NotShuttingDown;
};

/** LDK's state of a channel in words: what the ln.channel events and ln.listchannels say. */
function stateOf(c: ldk.ChannelDetails): string {
  if (closing(c)) return 'closing';
  if (!c.get_is_channel_ready()) return 'pending_open';
  return c.get_is_usable() ? 'open' : 'open_peer_offline';
}

/** Why a channel cannot carry a payment now, in words for an operator; undefined when it can. */
export function unusableReason(c: ldk.ChannelDetails): string | undefined {
  if (c.get_is_usable()) return undefined;
  if (closing(c)) return 'closing';
  if (!c.get_is_channel_ready()) {
    if (!c.get_funding_txo()) return 'funding not negotiated yet';
    const got = c.get_confirmations();
    const need = c.get_confirmations_required();
    const n = (o: ldk.Option_u32Z): string => (o instanceof ldk.Option_u32Z_Some ? String(o.some) : '?');
    return `funding not confirmed yet (${n(got)} of ${n(need)} confirmations)`;
  }
  return 'peer disconnected';
}

/** A channel's name in health: its short id once it has one, else its funding outpoint or LDK's id. */
export function channelName(c: ldk.ChannelDetails): string {
  const v = channelOf(c);
  return v.short_channel_id ?? v.channel_id;
}

/**
 * Both sides of a channel in msat, each with its reserve as CLN and LND count it (HTLCs in flight are neither's).
 * LDK tells what each side can send: that plus the reserve it must keep is its balance, when it is above the
 * reserve; a side still below its reserve (the peer's, just after the open) is what remains of the capacity.
 */
function sidesMsat(c: ldk.ChannelDetails): { local: number; remote: number } {
  const ours = c.get_unspendable_punishment_reserve();
  const ourReserve = ours instanceof ldk.Option_u64Z_Some ? Number(ours.some) * 1000 : 0;
  const theirReserve = Number(c.get_counterparty().get_unspendable_punishment_reserve()) * 1000;
  const inFlight = [...c.get_pending_inbound_htlcs(), ...c.get_pending_outbound_htlcs()].reduce((sum, h) => sum + Number(h.get_amount_msat()), 0);
  const total = Number(c.get_channel_value_satoshis()) * 1000 - inFlight;
  const out = Number(c.get_outbound_capacity_msat());
  const inb = Number(c.get_inbound_capacity_msat());
  const local = out > 0 ? out + ourReserve : undefined;
  const remote = inb > 0 ? inb + theirReserve : undefined;
  return { local: local ?? (remote === undefined ? 0 : total - remote), remote: remote ?? (local === undefined ? 0 : total - local) };
}

/**
 * The balance as LDK knows it. On chain: what its monitors say is ours in closed channels (confirmed: a close on
 * chain waiting out its delay; unconfirmed: a close not confirmed yet, or an HTLC we hold the preimage of). Once
 * swept the coins are the wallet room's (wallet.getbalance), not counted here.
 */
export function balanceOf(channels: ldk.ChannelDetails[], balances: ldk.Balance[]): LnBalance {
  let confirmed = 0;
  let unconfirmed = 0;
  for (const b of balances) {
    const sat = Number(b.claimable_amount_satoshis());
    if (b instanceof ldk.Balance_ClaimableAwaitingConfirmations) confirmed += sat;
    else if (
      b instanceof ldk.Balance_ClaimableOnChannelClose ||
      b instanceof ldk.Balance_ContentiousClaimable ||
      b instanceof ldk.Balance_CounterpartyRevokedOutputClaimable
    )
      unconfirmed += sat;
    // MaybeTimeout/MaybePreimage HTLCs may go either way: not counted until they are decided.
  }
  return {
    onchain_confirmed_sat: confirmed,
    onchain_unconfirmed_sat: unconfirmed,
    channel_local_msat: channels.filter((c) => !closing(c)).reduce((sum, c) => sum + sidesMsat(c).local, 0),
  };
}

export function channelOf(c: ldk.ChannelDetails): LnChannel {
  const s = c.get_short_channel_id();
  const txo = c.get_funding_txo();
  const capacity = c.get_channel_value_satoshis();
  const sides = sidesMsat(c);
  return {
    // The funding outpoint once known, as LND's channel point (what ln.closechannel takes back); before, LDK's id.
    channel_id: txo ? `${hashHex(txo.get_txid())}:${txo.get_index()}` : hex(c.get_channel_id().get_a()),
    short_channel_id: s instanceof ldk.Option_u64Z_Some ? scid(s.some) : null,
    peer: hex(c.get_counterparty().get_node_id()),
    state: stateOf(c),
    // The bindings answer LDK's bools as numbers.
    active: Boolean(c.get_is_usable()),
    capacity_sat: Number(capacity),
    local_msat: sides.local,
    remote_msat: sides.remote,
  };
}
