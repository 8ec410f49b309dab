// The Layer2 room: the registry of second-layer adapters and its l2.* methods — what is configured, health,
// capabilities, and the operations every adapter offers in one shape (submit, status, history, fee estimate).
// Adapter rooms (lightning, ...) register through its api.

import { Type, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import type { Room } from '../../core/room.js';
import { rpcError } from '../../rpc/errors.js';
import { checkParams, defineMethod, withoutPreimages } from '../../rpc/registry.js';
import { Layer2Registry, type Layer2Adapter } from './contract.js';

export interface Layer2Api {
  register(adapter: Layer2Adapter): void;
}

const AdapterT = Type.Object({ protocol: Type.String(), backend: Type.String() });
const NoParams = Type.Object({}, { additionalProperties: false });
const Which = {
  protocol: Type.String({ minLength: 1, maxLength: 50, description: 'e.g. lightning' }),
  backend: Type.Optional(Type.String({ minLength: 1, maxLength: 50, description: 'Needed when the protocol has several adapters.' })),
};
const OperationT = Type.Object({
  id: Type.String(),
  operation: Type.String(),
  status: Type.String(),
  created_at: Type.Union([Type.Integer(), Type.Null()]),
  detail: Type.Record(Type.String(), Type.Unknown()),
});
const OpParams = Type.Record(Type.String(), Type.Unknown(), { description: "The operation's params (see l2.capabilities for each schema)." });

/** Compiled checks of adapters' operation schemas, made once per schema. */
const checks = new WeakMap<TSchema, TypeCheck<TSchema>>();
function checkOp(
  schemas: Readonly<Record<string, TSchema>>,
  a: Layer2Adapter,
  operation: string,
  params: Record<string, unknown>,
  verb: string,
): Record<string, unknown> {
  const schema = Object.hasOwn(schemas, operation) ? schemas[operation] : undefined;
  if (!schema)
    throw rpcError('InvalidParams', `${a.protocol}/${a.backend} cannot ${verb} '${operation}' (it can: ${Object.keys(schemas).join(', ') || 'nothing'})`);
  let check = checks.get(schema);
  if (!check) checks.set(schema, (check = TypeCompiler.Compile(schema)));
  return checkParams(schema, check, params, `${a.protocol} ${operation}`);
}

export const layer2Room: Room = {
  name: 'l2',
  create: () => {
    const registry = new Layer2Registry();
    const api: Layer2Api = { register: (a) => registry.add(a) };
    return {
      api,
      methods: [
        defineMethod({
          name: 'l2.list',
          summary: 'The second-layer adapters configured, with a state summary of each.',
          params: NoParams,
          result: Type.Array(
            Type.Object({ protocol: Type.String(), backend: Type.String(), state: Type.String(), summary: Type.Record(Type.String(), Type.Unknown()) }),
          ),
          role: 'readonly',
          handler: () =>
            Promise.all(
              registry.list().map(async (a) => ({
                protocol: a.protocol,
                backend: a.backend,
                state: a.health().state,
                summary: await a.summary().catch((err: Error) => ({ error: err.message })),
              })),
            ),
        }),
        defineMethod({
          name: 'l2.health',
          summary: 'The health of every second-layer adapter.',
          params: NoParams,
          result: Type.Array(Type.Intersect([AdapterT, Type.Object({ state: Type.String(), detail: Type.String(), since: Type.String() })])),
          role: 'readonly',
          handler: () => registry.list().map((a) => ({ protocol: a.protocol, backend: a.backend, ...a.health() })),
        }),
        defineMethod({
          name: 'l2.capabilities',
          summary: 'What each second-layer adapter can do; anything not listed it refuses.',
          params: NoParams,
          result: Type.Array(
            Type.Intersect([
              AdapterT,
              Type.Object({
                capabilities: Type.Array(Type.String()),
                topics: Type.Array(Type.String()),
                operations: Type.Record(Type.String(), Type.Unknown(), {
                  description: 'What l2.submit takes: each operation with the JSON Schema of its params.',
                }),
                estimates: Type.Record(Type.String(), Type.Unknown(), { description: 'What l2.estimatefee takes, likewise.' }),
              }),
            ]),
          ),
          role: 'readonly',
          handler: () =>
            registry.list().map((a) => ({
              protocol: a.protocol,
              backend: a.backend,
              capabilities: a.capabilities(),
              topics: [...a.topics],
              operations: { ...a.operations },
              estimates: { ...a.estimates },
            })),
        }),
        defineMethod({
          name: 'l2.submit',
          summary: "Carry out one of an adapter's operations (e.g. lightning pay); its params are checked against the operation's schema.",
          params: Type.Object({ ...Which, operation: Type.String({ minLength: 1, maxLength: 100 }), params: OpParams }, { additionalProperties: false }),
          result: OperationT,
          role: 'admin',
          handler: async (p) => {
            const a = registry.find(p.protocol, p.backend);
            return a.submit(p.operation, checkOp(a.operations, a, p.operation, p.params, 'submit'));
          },
        }),
        defineMethod({
          name: 'l2.status',
          summary: 'Where one operation made through anyad stands (preimages for the user and admin roles only).',
          params: Type.Object({ ...Which, id: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false }),
          result: OperationT,
          role: 'readonly',
          handler: async (p, ctx) => {
            const a = registry.find(p.protocol, p.backend);
            const r = await a.status(p.id);
            if (!r) throw rpcError('NotFound', `${a.protocol}/${a.backend} has no operation '${p.id}' made through anyad`);
            return withoutPreimages(r, ctx.role);
          },
        }),
        defineMethod({
          name: 'l2.history',
          summary: 'Operations made through anyad, newest first (preimages for the user and admin roles only).',
          params: Type.Object(
            { ...Which, limit: Type.Integer({ minimum: 1, maximum: 10_000, default: 1000 }), offset: Type.Integer({ minimum: 0, default: 0 }) },
            { additionalProperties: false },
          ),
          result: Type.Object({ total: Type.Integer(), items: Type.Array(OperationT) }),
          role: 'readonly',
          handler: async (p, ctx) => withoutPreimages(await registry.find(p.protocol, p.backend).history(p.limit, p.offset), ctx.role),
        }),
        defineMethod({
          name: 'l2.estimatefee',
          summary: "What an operation would cost now, in the protocol's units (user role: it may make the node probe the network).",
          params: Type.Object({ ...Which, operation: Type.String({ minLength: 1, maxLength: 100 }), params: OpParams }, { additionalProperties: false }),
          result: Type.Record(Type.String(), Type.Unknown()),
          role: 'user',
          handler: async (p) => {
            const a = registry.find(p.protocol, p.backend);
            return a.estimateFee(p.operation, checkOp(a.estimates, a, p.operation, p.params, 'estimate the fee of'));
          },
        }),
      ],
    };
  },
};
