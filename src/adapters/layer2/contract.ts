// The contract every second-layer protocol adapter follows (Lightning backends now; DLC, RGB and state channels
// later), kept small and honest: an adapter lists the operations it supports, each with the schema of its params,
// and refuses the rest instead of pretending. Connecting and disconnecting are the Service's open and close. The
// registry is what the l2.* methods read.

import type { TSchema } from '@sinclair/typebox';
import type { Service } from '../../core/service.js';
import { rpcError } from '../../rpc/errors.js';

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
  submit(operation: string, params: Record<string, unknown>): Promise<OperationRecord>;
  status(id: string): Promise<OperationRecord | undefined>;
  /** Its operations, newest first. */
  history(limit: number, offset: number): Promise<{ total: number; items: OperationRecord[] }>;
  /** What the operation would cost now, in the protocol's units (e.g. { fee_msat }); params checked as for submit. */
  estimateFee(operation: string, params: Record<string, unknown>): Promise<Record<string, unknown>>;
}

export class Layer2Registry {
  private readonly adapters: Layer2Adapter[] = [];

  add(a: Layer2Adapter): void {
    if (this.adapters.some((x) => x.protocol === a.protocol && x.backend === a.backend))
      throw new Error(`layer2 adapter ${a.protocol}/${a.backend} registered twice`);
    this.adapters.push(a);
  }

  list(): Layer2Adapter[] {
    return [...this.adapters];
  }

  /** The adapter for a protocol: the named backend, or the only one; otherwise a clear InvalidParams. */
  find(protocol: string, backend?: string): Layer2Adapter {
    const of = this.adapters.filter((a) => a.protocol === protocol);
    if (of.length === 0)
      throw rpcError(
        'InvalidParams',
        `no ${protocol} adapter is configured (configured: ${this.adapters.map((a) => `${a.protocol}/${a.backend}`).join(', ') || 'none'})`,
      );
    if (backend !== undefined) {
      const a = of.find((x) => x.backend === backend);
      if (!a) throw rpcError('InvalidParams', `no ${protocol} adapter with backend '${backend}' (configured: ${of.map((x) => x.backend).join(', ')})`);
      return a;
    }
    if (of.length > 1)
      throw rpcError('InvalidParams', `several ${protocol} adapters are configured (${of.map((x) => x.backend).join(', ')}): name one with backend`);
    return of[0]!;
  }
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
