// What a room's RPC method is: rooms declare methods as data (a name, a one-line summary, a TypeBox schema for
// params and for the result, the role it needs) and bind each to a handler. The same schema validates the input,
// types the handler, and writes `help` and the OpenRPC document. The registry in rpc/ serves what rooms declare.

import { Type, type Static, type TObject, type TSchema } from '@sinclair/typebox';
import type { TypeCheck } from '@sinclair/typebox/compiler';
import { rpcError, type ErrorCodeName } from './errors.js';

import { ROLES, type Role } from './roles.js';

export { ROLES, type Role };
const ROLE_RANK: Record<Role, number> = { readonly: 0, user: 1, admin: 2 };
export const roleAllows = (have: Role, need: Role): boolean => ROLE_RANK[have] >= ROLE_RANK[need];

/**
 * A payment's preimage is its proof of payment: readonly callers get records without it (every `preimage` field,
 * at any depth, is dropped); user and admin get them whole.
 */
export function withoutPreimages<T>(value: T, role: Role): T {
  if (roleAllows(role, 'user')) return value;
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip);
    if (v === null || typeof v !== 'object') return v;
    return Object.fromEntries(
      Object.entries(v as Record<string, unknown>)
        .filter(([k]) => k !== 'preimage')
        .map(([k, x]) => [k, strip(x)]),
    );
  };
  return strip(value) as T;
}

/** What a transport knows about a connection; the subscription hub and the `auth` method act on it. */
export interface Connection {
  readonly id: number;
  readonly transport: 'unix' | 'ws';
  /** For logs: the socket path, or the remote address of a WebSocket. */
  readonly peer: string;
  /** Undefined until the connection has authenticated (Unix socket connections are authenticated by the file mode). */
  role: Role | undefined;
  /** The rpcauth user, "cookie", or "unix". */
  user: string | undefined;
  /** Queues one serialized JSON-RPC message. */
  send(text: string): void;
  /** Bytes queued and not yet taken by the peer; the slow-consumer bound is measured on this. */
  bufferedBytes(): number;
  close(reason: string): void;
  /** Failed `auth` calls so far, and whether one is being checked now (one attempt at a time). */
  authFailures?: number;
  authBusy?: boolean;
}

export interface CallContext {
  connection: Connection;
  role: Role;
  /** "unix", "cookie@127.0.0.1:5123", "alice@127.0.0.1:5123": for the log of admin calls. */
  caller: string;
  /** The method called. */
  method: string;
}

/**
 * Who caused a piece of work, as the audit log names it: the RPC connection (its rpcauth user and address, or the
 * Unix socket connection by number) and the method it called, e.g. "alice@127.0.0.1:5123 sc.update" or
 * "unix#7 dlc.accept". Rooms pass it down to every signature they ask the HSM for, with the contract context.
 */
export function callerOf(ctx: CallContext): string {
  return `${ctx.caller === 'unix' ? `unix#${ctx.connection.id}` : ctx.caller} ${ctx.method}`;
}

/** The caller named for work a room does by itself (following the chain, a timer): "anyad sc (chain.block)". */
export const backgroundCaller = (room: string, cause: string): string => `anyad ${room} (${cause})`;

export interface MethodSpec<P extends TObject = TObject, R extends TSchema = TSchema> {
  name: string;
  summary: string;
  description?: string;
  params: P;
  result: R;
  role: Role;
  /** May run while services are still opening (otherwise the caller gets -28). */
  duringWarmup?: boolean;
  /** Application errors the method itself may answer (the protocol and access errors every method has are added). */
  errors?: ErrorCodeName[];
  handler: (params: Static<P>, ctx: CallContext) => Static<R> | Promise<Static<R>>;
}

/** Declares a method; the generic parameters tie the handler's types to the schemas. */
export function defineMethod<P extends TObject, R extends TSchema>(spec: MethodSpec<P, R>): MethodSpec {
  return spec as unknown as MethodSpec;
}

/** The params schema of a method that takes none (unknown names are refused). */
export const NoParams = Type.Object({}, { additionalProperties: false });

/** What a method is, without its handler: plain data that the docs, `help` and anya-cli read without a room's code. */
export type MethodDeclaration<P extends TObject = TObject, R extends TSchema = TSchema> = Omit<MethodSpec<P, R>, 'handler'>;

/** A method's declaration; the generic parameters carry the schemas' types to the handler `implement` binds. */
export function declareMethod<P extends TObject, R extends TSchema>(declaration: MethodDeclaration<P, R>): MethodDeclaration<P, R> {
  return declaration;
}

/** Binds a declared method to its handler (the handler's types come from the declaration's schemas). */
export function implement<P extends TObject, R extends TSchema>(declaration: MethodDeclaration<P, R>, handler: MethodSpec<P, R>['handler']): MethodSpec {
  return { ...declaration, handler } as unknown as MethodSpec;
}

/**
 * Fills defaults only where a value is missing, and descends only into a plain object that an object schema
 * describes: a value of another type is never merged with a default (TypeBox's Value.Default would blend an object
 * given for an array param into the default array, and the result would pass) — it is left for the check to refuse.
 */
function fillMissing(schema: TSchema, value: unknown): unknown {
  const s = schema as { type?: string; properties?: Record<string, TSchema>; default?: unknown };
  if (value === undefined) return s.default !== undefined ? structuredClone(s.default) : undefined;
  if (s.type !== 'object' || !s.properties || typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  for (const [k, sub] of Object.entries(s.properties)) {
    const v = fillMissing(sub, out[k]);
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/**
 * Fills the schema's defaults into `value` and checks it; throws InvalidParams naming every problem (up to 10, the
 * values given first), as
 * for a method's params. Also used where a room takes params inside params (l2.submit's operation params).
 */
export function checkParams(
  schema: TSchema,
  check: TypeCheck<TSchema>,
  value: Record<string, unknown>,
  what: string,
  fillDefaults = true,
): Record<string, unknown> {
  const withDefaults = fillDefaults ? (fillMissing(schema, value) as Record<string, unknown>) : value;
  if (!check.Check(withDefaults)) {
    // What the caller sent wrong comes before what it left out: the message names the first, and a caller who sent
    // one bad value wants that one named, whatever else is missing.
    const given = (param: string): boolean => Object.hasOwn(value, param.split('/')[0]!);
    const all: Array<{ param: string; message: string }> = [];
    for (const e of check.Errors(withDefaults)) {
      all.push({ param: e.path.replace(/^\//, '') || '(params)', message: e.message });
      if (all.length >= 50) break;
    }
    const errors = [...all.filter((e) => given(e.param)), ...all.filter((e) => !given(e.param))].slice(0, 10);
    const first = errors[0]!;
    throw rpcError('InvalidParams', `invalid params for ${what}: ${first.param === '(params)' ? '' : `${first.param}: `}${first.message}`, { errors });
  }
  return withDefaults;
}
