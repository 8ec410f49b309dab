// The error table of the anyad RPC. Protocol faults use the JSON-RPC 2.0 codes; -28 is bitcoind's warm-up code;
// application errors sit in the server-error range -32000..-32099 and never change once published.

import { StorageFailure, storageReason } from './storage.js';

export const ErrorCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  WarmingUp: -28,
  Unauthorized: -32001,
  Forbidden: -32002,
  RateLimited: -32003,
  BatchTooLarge: -32004,
  RequestTooLarge: -32005,
  ShuttingDown: -32006,
  TooManyConnections: -32007,
  BackendUnavailable: -32010,
  NotFound: -32011,
  Locked: -32012,
  PolicyDenied: -32013,
  Conflict: -32014,
  Busy: -32015,
  BackendRejected: -32016,
  Unsupported: -32017,
  StorageFailure: -32018,
} as const;

export type ErrorCodeName = keyof typeof ErrorCode;

/** One row per code, for `help`, rpc.discover and the generated reference. */
export const ERROR_TABLE: ReadonlyArray<{ code: number; name: ErrorCodeName; meaning: string }> = [
  { code: ErrorCode.ParseError, name: 'ParseError', meaning: 'The message is not valid JSON.' },
  { code: ErrorCode.InvalidRequest, name: 'InvalidRequest', meaning: 'Not a valid JSON-RPC 2.0 request object (or an empty batch).' },
  { code: ErrorCode.MethodNotFound, name: 'MethodNotFound', meaning: 'No such method.' },
  { code: ErrorCode.InvalidParams, name: 'InvalidParams', meaning: 'The params do not match the method schema; data.errors names each problem.' },
  { code: ErrorCode.InternalError, name: 'InternalError', meaning: 'An unexpected fault in anyad; details are in its log, never in the answer.' },
  { code: ErrorCode.WarmingUp, name: 'WarmingUp', meaning: 'anyad is still starting; data.stage says which service it is opening.' },
  { code: ErrorCode.Unauthorized, name: 'Unauthorized', meaning: 'No valid credentials were presented on this connection.' },
  { code: ErrorCode.Forbidden, name: 'Forbidden', meaning: "The caller's role may not call this method; data.required names the role." },
  { code: ErrorCode.RateLimited, name: 'RateLimited', meaning: 'Too many requests on this connection; data.retry_after_ms says when to retry.' },
  { code: ErrorCode.BatchTooLarge, name: 'BatchTooLarge', meaning: 'The batch has more requests than rpcmaxbatch allows.' },
  { code: ErrorCode.RequestTooLarge, name: 'RequestTooLarge', meaning: 'The message is larger than rpcmaxmessagesize.' },
  { code: ErrorCode.ShuttingDown, name: 'ShuttingDown', meaning: 'anyad is stopping and takes no new requests.' },
  { code: ErrorCode.TooManyConnections, name: 'TooManyConnections', meaning: 'rpcmaxconnections connections are already open.' },
  {
    code: ErrorCode.BackendUnavailable,
    name: 'BackendUnavailable',
    meaning: 'A backend (bitcoind, lnd, HSM, ...) is not reachable now; data.service and data.reason say which and why.',
  },
  { code: ErrorCode.NotFound, name: 'NotFound', meaning: 'The thing asked for does not exist.' },
  { code: ErrorCode.Locked, name: 'Locked', meaning: 'The resource is locked (e.g. a keystore that needs unlocking).' },
  { code: ErrorCode.PolicyDenied, name: 'PolicyDenied', meaning: 'A policy refused the operation; data.rule names the rule.' },
  { code: ErrorCode.Conflict, name: 'Conflict', meaning: 'The operation conflicts with the current state (e.g. the target already exists).' },
  { code: ErrorCode.Busy, name: 'Busy', meaning: 'A bounded queue is full; retry later.' },
  {
    code: ErrorCode.BackendRejected,
    name: 'BackendRejected',
    meaning:
      'The backend refused the operation (e.g. bitcoind rejected a transaction); data.reason has its words. For Lightning, data.kind says why in words that do not depend on the node: no_route, fee_limit, rejected_by_destination, already_paid, invoice_expired, insufficient_funds, peer_unreachable, timeout.',
  },
  {
    code: ErrorCode.Unsupported,
    name: 'Unsupported',
    meaning: 'This backend or provider cannot do that at all (e.g. Schnorr on a PKCS#11 token); retrying will not help.',
  },
  {
    code: ErrorCode.StorageFailure,
    name: 'StorageFailure',
    meaning:
      'The disk refused a write (full, or an I/O error): nothing of the operation was kept. data.datadir, data.free_bytes and data.reason say where and why; retry once space is freed (health says when writes work again).',
  },
];

/** The answer for a write the disk refused, from a StorageFailure or a bare errno error (ENOSPC, EIO, ...). */
export function storageFailureError(err: unknown): RpcError | undefined {
  if (err instanceof StorageFailure) return rpcError('StorageFailure', err.message, { datadir: err.datadir, free_bytes: err.freeBytes, reason: err.reason });
  const reason = storageReason(err);
  if (reason === undefined) return undefined;
  return rpcError('StorageFailure', `the disk refused a write: ${reason}; nothing was changed; free some space (or replace a failing disk) and retry`, {
    datadir: null,
    free_bytes: null,
    reason,
  });
}

/** An error that is meant for the caller: its message and data are sent as they are, so they must hold no secret. */
export class RpcError extends Error {
  override name = 'RpcError';
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }
}

export const rpcError = (name: ErrorCodeName, message: string, data?: unknown): RpcError => new RpcError(ErrorCode[name], message, data);

/** An error answer with a null id, as a transport sends it before (or instead of) dispatching: one JSON line. */
export function transportError(name: ErrorCodeName, message: string, data?: unknown): string {
  return JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: ErrorCode[name], message, ...(data === undefined ? {} : { data }) } });
}

/** The answer to a message over rpcmaxmessagesize, on either transport. */
export const tooLargeAnswer = (limit: number): string => transportError('RequestTooLarge', `message larger than rpcmaxmessagesize=${limit} bytes`, { limit });
