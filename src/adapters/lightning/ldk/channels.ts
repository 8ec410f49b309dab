// Opening channels on the embedded node, and the channel events LDK raises. LDK's event handler is synchronous, so
// an event that needs the wallet (FundingGenerationReady) starts the work and returns; the open that asked for it
// waits for that work to end (the funding handed to LDK, or why not).

import type { Logger } from 'pino';
import { randomBytes } from 'node:crypto';
import * as ldk from 'lightningdevkit';
import { bitcoinNetwork } from '../../../core/bitcoin-network.js';
import { rpcError } from '../../../core/errors.js';
import type { Network } from '../../../core/options.js';
import type { HsmApi } from '../../../hsm/api.js';
import type { WalletApi } from '../../../wallet/api.js';
import { buildFunding, holderOf } from './funding.js';
import type { LdkNode } from './node.js';
import { hashHex, hex } from './wasm.js';
import { channelOf } from '../ldk-views.js';

interface Waiter {
  resolve(r: { txid: string; vout: number }): void;
  reject(err: Error): void;
}

/** An APIError's words (LDK's own), for the refusal anyad answers. */
export function apiErrorText(e: ldk.APIError): string {
  const withErr = e as unknown as { err?: string };
  return withErr.err ?? e.constructor.name.replace(/^APIError_/, '');
}

/**
 * A user channel id (u128) that survives lightningdevkit 0.1.0's u128 conversions: it writes a u128 into wasm little
 * endian but reads one back big endian (5n comes back as 5n << 120n), and refuses (throws a bare string) any value
 * from 2^124. So: 16 bytes that read the same both ways, the outer ones below 0x10.
 */
function palindromeId(): bigint {
  const half = randomBytes(8);
  half[0]! &= 0x0f;
  return BigInt(`0x${Buffer.concat([half, Buffer.from(half).reverse()]).toString('hex')}`);
}

export class LdkChannels {
  node: LdkNode | undefined;
  private readonly opening = new Map<bigint, Waiter>();

  constructor(private readonly o: { wallet: WalletApi | undefined; hsm: HsmApi; network: Network; log: Logger; changed: () => void; openTimeoutMs: number }) {}

  /** Opens a channel of `amountSat` to a connected peer, funded from the wallet; answers once the funding is signed. */
  async open(n: LdkNode, peer: string, amountSat: number): Promise<{ txid: string; channel_id: string }> {
    if (!this.o.wallet) throw rpcError('InvalidParams', 'the ldk backend funds channels from the wallet room, which is off (wallet.enable)');
    if (!n.pm.list_peers().some((p) => hex(p.get_counterparty_node_id()) === peer))
      throw rpcError('BackendRejected', `not connected to ${peer}: ln.connect first`, { kind: 'peer_unreachable' });
    const userId = palindromeId();
    const funded = new Promise<{ txid: string; vout: number }>((resolve, reject) => this.opening.set(userId, { resolve, reject }));
    const timer = setTimeout(
      () => this.fail(userId, new Error(`no answer from ${peer} to the channel open in ${this.o.openTimeoutMs} ms`)),
      this.o.openTimeoutMs,
    );
    try {
      const r = n.cm.create_channel(Buffer.from(peer, 'hex'), BigInt(amountSat), 0n, userId, null, null);
      if (r instanceof ldk.Result_ChannelIdAPIErrorZ_Err) throw rpcError('BackendRejected', `LDK refused the channel: ${apiErrorText(r.err)}`);
      void n.kick();
      const { txid, vout } = await funded;
      return { txid, channel_id: `${txid}:${vout}` };
    } catch (err) {
      // The bindings throw bare strings too.
      throw (err as { code?: number }).code !== undefined ? err : rpcError('BackendRejected', err instanceof Error ? err.message : String(err));
    } finally {
      clearTimeout(timer);
      this.opening.delete(userId);
    }
  }

  /** Starts a cooperative close (or forces one: the latest commitment broadcast by LDK) of a channel named as ln.listchannels does (or by LDK's channel id, or by peer). */
  close(n: LdkNode, channel: string, force: boolean): { type: string; txid: null } {
    const want = channel.toLowerCase();
    const found = n.cm.list_channels().filter((d) => {
      const v = channelOf(d);
      return v.channel_id === want || hex(d.get_channel_id().get_a()) === want || v.short_channel_id === want || v.peer === want;
    });
    // A peer id names a channel only when it has one with that peer (as lightningd's close): never a pick among several.
    if (found.length > 1)
      throw rpcError(
        'InvalidParams',
        `the LDK node has ${found.length} channels with peer ${channel}: name one by its channel id (${found.map((d) => channelOf(d).channel_id).join(', ')})`,
      );
    const c = found[0];
    if (!c) throw rpcError('NotFound', `no channel ${channel} on the LDK node`);
    const peer = c.get_counterparty().get_node_id();
    const r = force
      ? n.cm.force_close_broadcasting_latest_txn(c.get_channel_id(), peer, 'closed by the operator (ln.closechannel force)')
      : n.cm.close_channel(c.get_channel_id(), peer);
    if (r instanceof ldk.Result_NoneAPIErrorZ_Err) throw rpcError('BackendRejected', `LDK refused to close the channel: ${apiErrorText(r.err)}`);
    void n.kick();
    if (force) return { type: 'unilateral', txid: null };
    // The closing transaction is agreed with the peer after this answer (LDK broadcasts it): its txid is not known yet.
    return { type: 'mutual', txid: null };
  }

  private fail(userId: bigint, err: Error): void {
    this.opening.get(userId)?.reject(err);
    this.opening.delete(userId);
  }

  /** LDK's events about channels; the others are logged. */
  onEvent(e: ldk.Event): void {
    if (e instanceof ldk.Event_FundingGenerationReady) {
      // Copied now: the event's objects are LDK's to free once the handler returns.
      const req = {
        temp: e.temporary_channel_id.clone(),
        peer: Uint8Array.from(e.counterparty_node_id),
        userChannelId: e.user_channel_id,
        valueSat: e.channel_value_satoshis,
        outputScript: Uint8Array.from(e.output_script),
      };
      void this.fund(req);
      return;
    }
    if (e instanceof ldk.Event_ChannelPending) {
      const txo = e.funding_txo;
      this.o.log.info({ channel: `${hashHex(txo.get_txid())}:${txo.get_index()}`, peer: hex(e.counterparty_node_id) }, 'LDK channel pending');
    } else if (e instanceof ldk.Event_ChannelReady) this.o.log.info({ peer: hex(e.counterparty_node_id) }, 'LDK channel ready');
    else if (e instanceof ldk.Event_ChannelClosed) {
      this.o.log.info({ peer: hex(e.counterparty_node_id), reason: e.reason.constructor.name }, 'LDK channel closed');
      this.fail(e.user_channel_id, new Error(`the channel closed before it was funded (${e.reason.constructor.name.replace(/^ClosureReason_/, '')})`));
      // Coins promised to a funding that never happened go back; those of a funding made are spent anyway.
      void this.o.wallet?.releaseCoins(holderOf(e.user_channel_id)).catch(() => undefined);
    } else this.o.log.debug({ event: e.constructor.name }, 'LDK event');
    this.o.changed();
  }

  private async fund(req: { temp: ldk.ChannelId; peer: Uint8Array; userChannelId: bigint; valueSat: bigint; outputScript: Uint8Array }): Promise<void> {
    const n = this.node;
    try {
      if (!n || !this.o.wallet) throw new Error('the wallet room is off: no funding');
      if (!this.opening.has(req.userChannelId)) throw new Error('no open waits for this funding (anyad restarted since?)');
      const f = await buildFunding(this.o.wallet, this.o.hsm, bitcoinNetwork(this.o.network), {
        userChannelId: req.userChannelId,
        valueSat: req.valueSat,
        outputScript: req.outputScript,
        feeRateSatVb: n.fees.satPerVb(ldk.ConfirmationTarget.LDKConfirmationTarget_NonAnchorChannelFee),
      });
      const r = n.cm.funding_transaction_generated(req.temp, req.peer, f.tx);
      if (r instanceof ldk.Result_NoneAPIErrorZ_Err) throw new Error(`LDK refused the funding: ${apiErrorText(r.err)}`);
      void n.kick();
      this.opening.get(req.userChannelId)?.resolve({ txid: f.txid, vout: f.vout });
    } catch (err) {
      this.o.log.warn({ reason: (err as Error).message }, 'channel funding failed; the channel is abandoned');
      // LDK forgets the unfunded channel (and tells the peer) when told to close it.
      n?.cm.force_close_without_broadcasting_txn(req.temp, req.peer, 'funding failed');
      this.fail(req.userChannelId, err as Error);
    }
  }
}
