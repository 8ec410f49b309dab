// Types for the parts of ln-service 58 and invoices 5 that anyad uses (the packages ship none). Field names are
// theirs; see their READMEs for the full shapes. ln-service's failures reject with [statusCode, message, {err}].

declare module 'ln-service' {
  import type { EventEmitter } from 'node:events';

  export interface AuthenticatedLnd {
    readonly __brand: 'AuthenticatedLnd';
  }
  interface WithLnd {
    lnd: AuthenticatedLnd;
  }

  export function authenticatedLndGrpc(args: { cert?: string; macaroon: string; socket: string }): { lnd: AuthenticatedLnd };
  export function getWalletInfo(args: WithLnd): Promise<{
    alias: string;
    chains: string[];
    current_block_height: number;
    current_block_hash: string;
    public_key: string;
    peers_count: number;
    active_channels_count: number;
    version: string;
    is_synced_to_chain: boolean;
  }>;
  export function getChainBalance(args: WithLnd): Promise<{ chain_balance: number }>;
  export function getPendingChainBalance(args: WithLnd): Promise<{ pending_chain_balance: number }>;
  export function getChannelBalance(args: WithLnd): Promise<{ channel_balance: number; channel_balance_mtokens?: string }>;
  export function getPeers(args: WithLnd): Promise<{ peers: Array<{ public_key: string; socket: string }> }>;
  export function addPeer(args: WithLnd & { public_key: string; socket: string; retry_count?: number; retry_delay?: number; timeout?: number }): Promise<void>;
  export function getChannels(args: WithLnd): Promise<{
    channels: Array<{
      id: string;
      transaction_id: string;
      transaction_vout: number;
      partner_public_key: string;
      capacity: number;
      local_balance: number;
      remote_balance: number;
      is_active: boolean;
      is_opening: boolean;
      is_closing: boolean;
    }>;
  }>;
  export function getPendingChannels(args: WithLnd): Promise<{
    pending_channels: Array<{
      transaction_id: string;
      transaction_vout: number;
      partner_public_key: string;
      capacity: number;
      local_balance: number;
      remote_balance: number;
      is_opening: boolean;
      is_closing: boolean;
    }>;
  }>;
  export function openChannel(
    args: WithLnd & { partner_public_key: string; local_tokens: number },
  ): Promise<{ transaction_id: string; transaction_vout: number }>;
  export function closeChannel(
    args: WithLnd & { transaction_id: string; transaction_vout: number; is_force_close?: boolean },
  ): Promise<{ transaction_id?: string; transaction_vout?: number }>;
  export function createInvoice(
    args: WithLnd & { description?: string; mtokens?: string; expires_at?: string },
  ): Promise<{ id: string; request: string; created_at: string; mtokens: string }>;
  export interface LndInvoice {
    id: string;
    request?: string;
    description: string;
    mtokens: string;
    received_mtokens: string;
    is_confirmed: boolean;
    is_canceled?: boolean;
    confirmed_at?: string;
    confirmed_index?: number;
    created_at: string;
    expires_at: string;
    index: number;
    /** A keysend (or AMP push) received: no payment request was made for it. */
    is_push?: boolean;
  }
  export function getInvoice(args: WithLnd & { id: string }): Promise<LndInvoice>;
  export function decodePaymentRequest(
    args: WithLnd & { request: string },
  ): Promise<{ id: string; destination: string; mtokens?: string; description?: string; created_at: string; expires_at: string }>;
  export function payViaPaymentRequest(
    args: WithLnd & { request: string; max_fee_mtokens?: string; pathfinding_timeout?: number },
  ): Promise<{ id: string; mtokens: string; fee_mtokens: string; secret: string }>;
  /** Pays by details, not a request: a keysend when the preimage goes to the payee in record 5482373484. */
  export function payViaPaymentDetails(
    args: WithLnd & {
      destination: string;
      id: string;
      mtokens: string;
      messages: Array<{ type: string; value: string }>;
      max_fee_mtokens?: string;
      pathfinding_timeout?: number;
    },
  ): Promise<{ id: string; mtokens: string; fee_mtokens: string; secret: string }>;
  export function getInvoices(args: WithLnd & { limit?: number }): Promise<{ invoices: LndInvoice[] }>;
  export function getRoutingFeeEstimate(args: WithLnd & { request: string; timeout?: number }): Promise<{ fee_mtokens: string; timeout: number }>;
  export function getPayment(
    args: WithLnd & { id: string },
  ): Promise<{ is_confirmed?: boolean; is_failed?: boolean; is_pending?: boolean; payment?: { secret: string; mtokens: string; fee_mtokens: string } }>;
  export function subscribeToInvoices(args: WithLnd & { added_after?: number; confirmed_after?: number; restart_delay_ms?: number }): EventEmitter;
}

declare module 'invoices' {
  /** Decodes a BOLT11 request (checksum, fields, the payee recovered from the signature); throws on a bad one. */
  export function parsePaymentRequest(args: { request: string }): {
    id: string;
    destination: string;
    network: string;
    mtokens?: string;
    description?: string;
    created_at: string;
    expires_at: string;
    is_expired: boolean;
  };
}
