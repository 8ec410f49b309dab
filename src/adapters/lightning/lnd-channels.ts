// LND as a node: its info and balances, its peers (listing, connecting) and its channels (listing open and pending
// ones, opening, closing), in the shapes backend.ts gives both nodes.

import type { Network } from '../../core/options.js';
import { rpcError } from '../../core/errors.js';
import type { LnBalance, LnChannel, LnInfo, LnPeer } from './backend.js';
import { CHAIN_HASH, ln, type LndConnection } from './lnd-connection.js';

export async function getInfo(conn: LndConnection): Promise<LnInfo> {
  const i = await conn.call((lnd) => ln().getWalletInfo({ lnd }));
  const network = (Object.entries(CHAIN_HASH).find(([, h]) => i.chains.includes(h))?.[0] as Network | undefined) ?? 'unknown';
  return {
    id: i.public_key,
    alias: i.alias,
    network: network === 'main' ? 'bitcoin' : network === 'test' ? 'testnet' : network,
    block_height: i.current_block_height,
    // Checked, as every answer of LND is before it is passed on: a hash, or none.
    ...(/^[0-9a-f]{64}$/.test(i.current_block_hash ?? '') ? { block_hash: i.current_block_hash } : {}),
    num_peers: i.peers_count,
    num_active_channels: i.active_channels_count,
    version: i.version,
  };
}

export async function balance(conn: LndConnection): Promise<LnBalance> {
  const [c, p, ch] = await Promise.all([
    conn.call((lnd) => ln().getChainBalance({ lnd })),
    conn.call((lnd) => ln().getPendingChainBalance({ lnd })),
    conn.call((lnd) => ln().getChannelBalance({ lnd })),
  ]);
  return {
    onchain_confirmed_sat: c.chain_balance,
    onchain_unconfirmed_sat: p.pending_chain_balance,
    channel_local_msat: ch.channel_balance_mtokens !== undefined ? Number(ch.channel_balance_mtokens) : ch.channel_balance * 1000,
  };
}

export async function listPeers(conn: LndConnection): Promise<LnPeer[]> {
  // LND lists the peers it is connected to.
  const r = await conn.call((lnd) => ln().getPeers({ lnd }));
  return r.peers.map((p) => ({ id: p.public_key, connected: true, address: p.socket || null }));
}

export async function connect(conn: LndConnection, id: string, host?: string, port?: number): Promise<void> {
  if (!host) throw rpcError('InvalidParams', "LND needs the peer's host to connect (it does not look addresses up in the graph for this call)");
  await conn.call((lnd) =>
    ln().addPeer({ lnd, public_key: id, socket: `${host}:${port ?? 9735}`, retry_count: 0, timeout: Math.min(conn.settings.timeoutMs, 30_000) }),
  );
}

export async function listChannels(conn: LndConnection): Promise<LnChannel[]> {
  // LND lists channels waiting for their funding or closing transaction apart from open ones.
  const [r, p] = await Promise.all([conn.call((lnd) => ln().getChannels({ lnd })), conn.call((lnd) => ln().getPendingChannels({ lnd }))]);
  const pending: LnChannel[] = p.pending_channels.map((c) => ({
    channel_id: `${c.transaction_id}:${c.transaction_vout}`,
    short_channel_id: null,
    peer: c.partner_public_key,
    state: c.is_opening ? 'pending_open' : 'closing',
    active: false,
    capacity_sat: c.capacity,
    local_msat: c.local_balance * 1000,
    remote_msat: c.remote_balance * 1000,
  }));
  return r.channels
    .map((c): LnChannel => ({
      channel_id: `${c.transaction_id}:${c.transaction_vout}`,
      short_channel_id: c.id || null,
      peer: c.partner_public_key,
      state: c.is_opening ? 'opening' : c.is_closing ? 'closing' : 'open',
      active: c.is_active,
      capacity_sat: c.capacity,
      local_msat: c.local_balance * 1000,
      remote_msat: c.remote_balance * 1000,
    }))
    .concat(pending);
}

export async function openChannel(conn: LndConnection, peer: string, amountSat: number): Promise<{ txid: string; channel_id: string }> {
  const r = await conn.call((lnd) => ln().openChannel({ lnd, partner_public_key: peer, local_tokens: amountSat }));
  return { txid: r.transaction_id, channel_id: `${r.transaction_id}:${r.transaction_vout}` };
}

/**
 * CloseChannel: cooperative, or with `force` LND broadcasts its latest commitment (its funds come back after the
 * delay; a cooperative close needs the peer online, LND says so and suggests force). A channel already closing is
 * not LND's to close again.
 */
export async function closeChannel(conn: LndConnection, channel: string, force: boolean): Promise<{ type: string; txid: string | null }> {
  const chans = await listChannels(conn);
  const found = chans.filter((x) => x.state !== 'closing' && (x.channel_id === channel || x.short_channel_id === channel || x.peer === channel));
  // A peer id names a channel only when it has one with that peer (as lightningd's close): never a pick among several.
  if (found.length > 1)
    throw rpcError(
      'InvalidParams',
      `LND has ${found.length} channels with peer ${channel}: name one by its channel point (${found.map((x) => x.channel_id).join(', ')})`,
    );
  const c = found[0];
  if (!c) throw rpcError('NotFound', `LND has no open channel '${channel}' (give a channel point txid:vout, a short channel id or a peer id)`);
  const [txid, vout] = c.channel_id.split(':');
  const r = await conn.call((lnd) => ln().closeChannel({ lnd, transaction_id: txid!, transaction_vout: Number(vout), is_force_close: force }));
  return { type: force ? 'unilateral' : 'mutual', txid: r.transaction_id ?? null };
}
