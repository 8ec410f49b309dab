// The Layer2 room: the registry of second-layer adapters and its l2.* methods — what is configured, health,
// capabilities, and the operations every adapter offers in one shape (submit, status, history, fee estimate).
// Adapter rooms (lightning, ...) register through its api.

import * as D from './declarations.js';
import { L2_METHODS } from './declarations.js';
import type { TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import type { Room } from '../../core/room.js';
import { rpcError } from '../../core/errors.js';
import { callerOf, checkParams, implement, withoutPreimages } from '../../core/methods.js';
import { Layer2Registry } from './contract.js';
import type { Layer2Adapter, Layer2Api } from './api.js';

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
  methods: L2_METHODS,
  create: () => {
    const registry = new Layer2Registry();
    const api: Layer2Api = { register: (a) => registry.add(a) };
    return {
      api,
      methods: [
        implement(D.l2List, () =>
          Promise.all(
            registry.list().map(async (a) => ({
              protocol: a.protocol,
              backend: a.backend,
              state: a.health().state,
              summary: await a.summary().catch((err: Error) => ({ error: err.message })),
            })),
          ),
        ),
        implement(D.l2Health, () => registry.list().map((a) => ({ protocol: a.protocol, backend: a.backend, ...a.health() }))),
        implement(D.l2Capabilities, () =>
          registry.list().map((a) => ({
            protocol: a.protocol,
            backend: a.backend,
            capabilities: a.capabilities(),
            topics: [...a.topics],
            operations: { ...a.operations },
            estimates: { ...a.estimates },
          })),
        ),
        implement(D.l2Submit, async (p, ctx) => {
          const a = registry.find(p.protocol, p.backend);
          return a.submit(p.operation, checkOp(a.operations, a, p.operation, p.params, 'submit'), callerOf(ctx));
        }),
        implement(D.l2Status, async (p, ctx) => {
          const a = registry.find(p.protocol, p.backend);
          const r = await a.status(p.id);
          if (!r) throw rpcError('NotFound', `${a.protocol}/${a.backend} has no operation '${p.id}' made through anyad`);
          return withoutPreimages(r, ctx.role);
        }),
        implement(D.l2History, async (p, ctx) => withoutPreimages(await registry.find(p.protocol, p.backend).history(p.limit, p.offset), ctx.role)),
        implement(D.l2Estimatefee, async (p) => {
          const a = registry.find(p.protocol, p.backend);
          return a.estimateFee(p.operation, checkOp(a.estimates, a, p.operation, p.params, 'estimate the fee of'));
        }),
      ],
    };
  },
};
