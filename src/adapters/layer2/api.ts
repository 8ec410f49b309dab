// What other rooms may use of the Layer2 room (declared in their `requires`): the contract every second-layer
// protocol adapter follows (Lightning backends, DLC, RGB, state channels), kept small and honest — an adapter lists
// the operations it supports, each with the schema of its params, and refuses the rest instead of pretending;
// connecting and disconnecting are the Service's open and close — and the api that registers one.

import type { TSchema } from '@sinclair/typebox';
import { roomApi } from '../../core/room.js';
import type { Service } from '../../core/service.js';

/** One operation an adapter carried out (or is carrying out), in the same shape for every protocol. */
export interface OperationRecord {
  /** The adapter's id for it (a payment hash for Lightning). */
  id: string;
  /** One of the adapter's operation names. */
  operation: string;
  /** The adapter's words for where it stands, e.g. pending, complete, failed, unpaid, paid. */
  status: string;
  /** Unix seconds, or null when not known. */
  created_at: number | null;
  /** The protocol's own fields. */
  detail: Record<string, unknown>;
}

export interface Layer2Adapter extends Service {
  /** e.g. "lightning". */
  readonly protocol: string;
  /** e.g. "cln" or "lnd". */
  readonly backend: string;
  /** Everything it supports, e.g. "pay", "invoice.create", "channel.open", "events.invoice". */
  capabilities(): string[];
  /** The event topics it publishes. */
  readonly topics: readonly string[];
  /** The operations submit() takes, with the schema of each one's params. */
  readonly operations: Readonly<Record<string, TSchema>>;
  /** The operations estimateFee() can price, with the schema of the params it needs for each. */
  readonly estimates: Readonly<Record<string, TSchema>>;
  /** A short state summary for people (node id, block height, channel count...). */
  summary(): Promise<Record<string, unknown>>;
  /** Carries out one operation; params are already checked against operations[operation]. */
  /** `caller` names who asked (core/methods.ts callerOf): the audit entry of any signature the operation needs. */
  submit(operation: string, params: Record<string, unknown>, caller: string): Promise<OperationRecord>;
  status(id: string): Promise<OperationRecord | undefined>;
  /** Its operations, newest first. */
  history(limit: number, offset: number): Promise<{ total: number; items: OperationRecord[] }>;
  /** What the operation would cost now, in the protocol's units (e.g. { fee_msat }); params checked as for submit. */
  estimateFee(operation: string, params: Record<string, unknown>): Promise<Record<string, unknown>>;
}

/** The capabilities an adapter's operations give, named `<kind>.<operation>`: derived, so the two never disagree. */
export function operationCapabilities(kind: string, operations: Record<string, unknown>): string[] {
  return Object.keys(operations).map((op) => `${kind}.${op}`);
}

/**
 * l2.status and l2.history for an adapter whose operations are records it keeps (DLC contracts, state channels),
 * and an operation's answer as its record with the answer in detail.result.
 */
export function recordViews<R>(
  list: () => Promise<R[]>,
  get: (id: string) => Promise<R>,
  toRecord: (r: R) => OperationRecord,
): Pick<Layer2Adapter, 'status' | 'history'> & { after(id: string, result: unknown): Promise<OperationRecord> } {
  return {
    async after(id, result) {
      const r = toRecord(await get(id));
      return { ...r, detail: { ...r.detail, result } };
    },
    status: (id) => get(id).then(toRecord, () => undefined),
    async history(limit, offset) {
      const all = (await list()).reverse();
      return { total: all.length, items: all.slice(offset, offset + limit).map(toRecord) };
    },
  };
}

export interface Layer2Api {
  register(adapter: Layer2Adapter): void;
}

/** The handle a room lists in `requires` and passes to `ctx.use` for the Layer2 room's api. */
export const L2 = roomApi<Layer2Api>('l2');
