// LDK's peer and channel details in the shapes every backend answers (backend.ts).

import * as ldk from 'lightningdevkit';
import type { LnChannel, LnPeer } from './backend.js';
import { hashHex, hex } from './ldk/wasm.js';

export function peerOf(p: ldk.PeerDetails): LnPeer {
  const a = p.get_socket_address();
  return { id: hex(p.get_counterparty_node_id()), connected: true, address: a instanceof ldk.Option_SocketAddressZ_Some ? a.some.to_str() : null };
}

/** A short channel id as BOLT 7 writes it: block x tx x output. */
function scid(v: bigint): string {
  return `${v >> 40n}x${(v >> 16n) & 0xffffffn}x${v & 0xffffn}`;
}

/** LDK's state of a channel in words: what the ln.channel events and ln.listchannels say. */
function stateOf(c: ldk.ChannelDetails): string {
  const shutdown = c.get_channel_shutdown_state();
  if (shutdown instanceof ldk.Option_ChannelShutdownStateZ_Some && shutdown.some !== ldk.ChannelShutdownState.LDKChannelShutdownState_NotShuttingDown)
    return 'closing';
  if (!c.get_is_channel_ready()) return 'pending_open';
  return c.get_is_usable() ? 'open' : 'open_peer_offline';
}

export function channelOf(c: ldk.ChannelDetails): LnChannel {
  const s = c.get_short_channel_id();
  const txo = c.get_funding_txo();
  const local = c.get_outbound_capacity_msat();
  const capacity = c.get_channel_value_satoshis();
  return {
    // The funding outpoint once known, as LND's channel point (what ln.closechannel takes back); before, LDK's id.
    channel_id: txo ? `${hashHex(txo.get_txid())}:${txo.get_index()}` : hex(c.get_channel_id().get_a()),
    short_channel_id: s instanceof ldk.Option_u64Z_Some ? scid(s.some) : null,
    peer: hex(c.get_counterparty().get_node_id()),
    state: stateOf(c),
    // The bindings answer LDK's bools as numbers.
    active: Boolean(c.get_is_usable()),
    capacity_sat: Number(capacity),
    local_msat: Number(local),
    remote_msat: Number(c.get_inbound_capacity_msat()),
  };
}
