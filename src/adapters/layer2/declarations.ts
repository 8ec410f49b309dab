// The declarations of methods (name, summary, params and result schemas, role, errors): data that the docs and
// the daemon read without the room's code; the handlers are bound in the room's methods module.

import { declareMethod, NoParams, type MethodDeclaration } from '../../core/methods.js';
import { Type } from '@sinclair/typebox';

export const Which = {
  protocol: Type.String({ minLength: 1, maxLength: 50, description: 'e.g. lightning' }),
  backend: Type.Optional(Type.String({ minLength: 1, maxLength: 50, description: 'Needed when the protocol has several adapters.' })),
};

export const AdapterT = Type.Object({ protocol: Type.String(), backend: Type.String() });

export const OperationT = Type.Object({
  id: Type.String(),
  operation: Type.String(),
  status: Type.String(),
  created_at: Type.Union([Type.Integer(), Type.Null()]),
  detail: Type.Record(Type.String(), Type.Unknown()),
});

export const OpParams = Type.Record(Type.String(), Type.Unknown(), { description: "The operation's params (see l2.capabilities for each schema)." });

export const l2List = declareMethod({
  name: 'l2.list',
  summary: 'The second-layer adapters configured, with a state summary of each.',
  params: NoParams,
  result: Type.Array(
    Type.Object({ protocol: Type.String(), backend: Type.String(), state: Type.String(), summary: Type.Record(Type.String(), Type.Unknown()) }),
  ),
  role: 'readonly',
});

export const l2Health = declareMethod({
  name: 'l2.health',
  summary: 'The health of every second-layer adapter.',
  params: NoParams,
  result: Type.Array(Type.Intersect([AdapterT, Type.Object({ state: Type.String(), detail: Type.String(), since: Type.String() })])),
  role: 'readonly',
});

export const l2Capabilities = declareMethod({
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
});

export const l2Submit = declareMethod({
  name: 'l2.submit',
  summary: "Carry out one of an adapter's operations (e.g. lightning pay); its params are checked against the operation's schema.",
  params: Type.Object({ ...Which, operation: Type.String({ minLength: 1, maxLength: 100 }), params: OpParams }, { additionalProperties: false }),
  result: OperationT,
  role: 'admin',
});

export const l2Status = declareMethod({
  name: 'l2.status',
  summary: 'Where one operation made through anyad stands (preimages for the user and admin roles only).',
  params: Type.Object({ ...Which, id: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false }),
  result: OperationT,
  role: 'readonly',
});

export const l2History = declareMethod({
  name: 'l2.history',
  summary: 'Operations made through anyad, newest first (preimages for the user and admin roles only).',
  params: Type.Object(
    { ...Which, limit: Type.Integer({ minimum: 1, maximum: 10_000, default: 1000 }), offset: Type.Integer({ minimum: 0, default: 0 }) },
    { additionalProperties: false },
  ),
  result: Type.Object({ total: Type.Integer(), items: Type.Array(OperationT) }),
  role: 'readonly',
});

export const l2Estimatefee = declareMethod({
  name: 'l2.estimatefee',
  summary: "What an operation would cost now, in the protocol's units (user role: it may make the node probe the network).",
  params: Type.Object({ ...Which, operation: Type.String({ minLength: 1, maxLength: 100 }), params: OpParams }, { additionalProperties: false }),
  result: Type.Record(Type.String(), Type.Unknown()),
  role: 'user',
});

export const L2_METHODS: readonly MethodDeclaration[] = [l2List, l2Health, l2Capabilities, l2Submit, l2Status, l2History, l2Estimatefee];
