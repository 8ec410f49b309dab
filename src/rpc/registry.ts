// The one method registry both transports serve: the methods rooms declared (core/methods.ts) with their
// checkers, positional parameter order and owner.

import type { TObject, TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { rpcError } from '../core/errors.js';
import { checkParams, type MethodSpec } from '../core/methods.js';

export interface RegisteredMethod {
  spec: MethodSpec;
  owner: string;
  /** Parameter names in positional order. */
  order: string[];
  readonly checkParams: TypeCheck<TObject>;
  readonly checkResult: TypeCheck<TSchema>;
}

/**
 * A method whose checkers are compiled on first use: compiling every schema of every room at start costs more than
 * the rest of the start together, and most methods are never called in a daemon's life.
 */
function compiledOnFirstUse(spec: MethodSpec, owner: string): RegisteredMethod {
  let params: TypeCheck<TObject> | undefined;
  let result: TypeCheck<TSchema> | undefined;
  return {
    spec,
    owner,
    order: Object.keys(spec.params.properties),
    get checkParams() {
      return (params ??= TypeCompiler.Compile(spec.params));
    },
    get checkResult() {
      return (result ??= TypeCompiler.Compile(spec.result));
    },
  };
}

const NAME_RE = /^(?:[a-z][a-z0-9]*\.)?[a-z][a-z0-9_]*$/;

export class MethodRegistry {
  private readonly methods = new Map<string, RegisteredMethod>();

  register(owner: string, specs: readonly MethodSpec[]): void {
    for (const spec of specs) {
      if (!NAME_RE.test(spec.name)) throw new Error(`method name '${spec.name}' must be lower-case namespace.verb`);
      if (this.methods.has(spec.name)) throw new Error(`method '${spec.name}' is registered twice (${this.methods.get(spec.name)!.owner} and ${owner})`);
      if (spec.params.additionalProperties !== false) throw new Error(`method '${spec.name}': params schema must set additionalProperties: false`);
      this.methods.set(spec.name, compiledOnFirstUse(spec, owner));
    }
  }

  get(name: string): RegisteredMethod | undefined {
    return this.methods.get(name);
  }

  list(): RegisteredMethod[] {
    return [...this.methods.values()].sort((a, b) => a.spec.name.localeCompare(b.spec.name));
  }

  /**
   * Turns raw JSON-RPC params (absent, positional array or named object) into validated named params, with schema
   * defaults filled in. Throws -32602 with every problem listed.
   */
  prepareParams(m: RegisteredMethod, raw: unknown): Record<string, unknown> {
    let named: Record<string, unknown>;
    if (raw === undefined) named = {};
    else if (Array.isArray(raw)) {
      if (raw.length > m.order.length) {
        throw rpcError(
          'InvalidParams',
          `${m.spec.name} takes at most ${m.order.length} positional params (${m.order.join(', ') || 'none'}), got ${raw.length}`,
        );
      }
      named = {};
      raw.forEach((v, i) => {
        // A positional null stands for "not given", as bitcoind reads it, so later params can still be passed.
        if (v !== null) named[m.order[i]!] = v;
      });
    } else if (typeof raw === 'object' && raw !== null) named = { ...(raw as Record<string, unknown>) };
    else throw rpcError('InvalidParams', 'params must be an array or an object');
    // Most calls carry no params for methods that take none: skip the schema walk that fills defaults.
    return checkParams(m.spec.params, m.checkParams, named, m.spec.name, m.order.length > 0);
  }
}
