// `help`, the OpenRPC document of `rpc.discover`, and the Markdown reference are all written from the method
// and topic declarations, so they cannot drift from what the daemon validates.

import type { TSchema } from '@sinclair/typebox';
import { ERROR_TABLE, ErrorCode, type ErrorCodeName } from '../core/errors.js';
import type { TopicSpec } from '../core/events.js';
import type { MethodDeclaration } from '../core/methods.js';
import type { MethodRegistry, RegisteredMethod } from './registry.js';

type Schema = TSchema & Record<string, unknown>;

/** A short human name for a schema: string, integer, "a"|"b", array of string, object, ... */
export function typeName(schema: Schema): string {
  if (Array.isArray(schema.anyOf)) return (schema.anyOf as Schema[]).map(typeName).join(' | ');
  if ('const' in schema) return JSON.stringify(schema.const);
  if (Array.isArray(schema.enum)) return (schema.enum as unknown[]).map((v) => JSON.stringify(v)).join(' | ');
  switch (schema.type) {
    case 'array':
      return `array of ${typeName(schema.items as Schema)}`;
    case undefined:
      return 'any';
    default:
      return String(schema.type);
  }
}

function paramLines(m: RegisteredMethod): string[] {
  const props = m.spec.params.properties as Record<string, Schema>;
  const required = new Set(m.spec.params.required ?? []);
  return m.order.map((name, i) => {
    const s = props[name]!;
    const opt = required.has(name) ? 'required' : s.default !== undefined ? `optional, default=${JSON.stringify(s.default)}` : 'optional';
    return `${i + 1}. ${name}    (${typeName(s)}, ${opt}) ${String(s.description ?? '')}`.trimEnd();
  });
}

/** The one-line signature bitcoin-cli users know: `name "required" ( optional )`. */
export function signature(m: RegisteredMethod): string {
  const required = new Set(m.spec.params.required ?? []);
  const parts = m.order.map((n) => (required.has(n) ? `"${n}"` : `( "${n}" )`));
  return [m.spec.name, ...parts].join(' ');
}

export function helpText(registry: MethodRegistry, method?: string): string | undefined {
  if (method === undefined) {
    const groups = new Map<string, string[]>();
    for (const m of registry.list()) {
      const ns = m.spec.name.includes('.') ? m.spec.name.split('.')[0]! : 'daemon';
      groups.set(ns, [...(groups.get(ns) ?? []), signature(m)]);
    }
    return [...groups.entries()].map(([ns, lines]) => `== ${ns[0]!.toUpperCase()}${ns.slice(1)} ==\n${lines.join('\n')}`).join('\n\n');
  }
  const m = registry.get(method);
  if (!m) return undefined;
  const out = [signature(m), '', m.spec.summary];
  if (m.spec.description) out.push('', m.spec.description);
  const params = paramLines(m);
  out.push('', 'Arguments:', ...(params.length ? params : ['none']));
  out.push('', `Result: ${typeName(m.spec.result as Schema)}`, JSON.stringify(m.spec.result, null, 2));
  out.push('', `Role: ${m.spec.role}${m.spec.duringWarmup ? ' (answers during warm-up)' : ''}`);
  return out.join('\n');
}

/**
 * What a method may answer besides its result: what every call may get (access, limits, warm-up, shutdown, a fault
 * of anyad's), InvalidParams when it takes params, and what the method declares.
 */
function errorsOf(spec: MethodDeclaration): ErrorCodeName[] {
  const out: ErrorCodeName[] = ['Unauthorized', 'Forbidden', 'RateLimited', 'ShuttingDown', 'InternalError'];
  if (!spec.duringWarmup) out.push('WarmingUp');
  if (Object.keys(spec.params.properties).length > 0) out.push('InvalidParams');
  for (const e of spec.errors ?? []) if (!out.includes(e)) out.push(e);
  return out.sort((a, b) => ErrorCode[b] - ErrorCode[a]);
}

/**
 * The OpenRPC 1.2.6 document of the given methods (a daemon's registered ones, or every declared one for the docs),
 * with anyad's role per method and the topics as an extension.
 */
export function openRpcDocument(
  methods: readonly MethodDeclaration[],
  topics: ReadonlyArray<TopicSpec & { owner: string }>,
  version: string,
): Record<string, unknown> {
  return {
    openrpc: '1.2.6',
    info: {
      title: 'anyad JSON-RPC API',
      version,
      description: 'Methods of anyad over its Unix socket and WebSocket. Params may be positional (in the listed order) or named.',
    },
    methods: [...methods]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((spec) => {
        const props = spec.params.properties as Record<string, Schema>;
        const required = new Set(spec.params.required ?? []);
        return {
          name: spec.name,
          summary: spec.summary,
          ...(spec.description ? { description: spec.description } : {}),
          paramStructure: 'either',
          params: Object.keys(props).map((n) => ({
            name: n,
            required: required.has(n),
            schema: props[n],
            ...(props[n]!.description ? { description: props[n]!.description } : {}),
          })),
          result: { name: 'result', schema: spec.result },
          'x-anya-role': spec.role,
          'x-anya-during-warmup': spec.duringWarmup === true,
          errors: errorsOf(spec).map((name) => ({ code: ErrorCode[name], message: name })),
        };
      }),
    components: {
      errors: Object.fromEntries(ERROR_TABLE.map((e) => [e.name, { code: e.code, message: e.meaning }])),
    },
    'x-anya-topics': [...topics]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((t) => ({ name: t.name, summary: t.summary, owner: t.owner, role: t.role ?? 'readonly', ...(t.data ? { schema: t.data } : {}) })),
  };
}

interface OpenRpcParam {
  name: string;
  required: boolean;
  schema: Schema;
  description?: string;
}
interface OpenRpcMethod {
  name: string;
  summary: string;
  description?: string;
  params: OpenRpcParam[];
  result: { schema: Schema };
  errors?: Array<{ code: number; message: string }>;
  'x-anya-role': string;
  'x-anya-during-warmup': boolean;
}

/**
 * docs/rpc.md, written by `npm run docs` from the OpenRPC document of every declared method (every room's, whatever
 * the config); a test checks the committed copy is current.
 */
export function markdownReference(doc: Record<string, unknown>): string {
  const methods = doc.methods as OpenRpcMethod[];
  const topics = doc['x-anya-topics'] as Array<{ name: string; summary: string; owner: string; role?: string }>;
  const out: string[] = ['# anyad RPC reference', '', '<!-- Generated by `npm run docs` from the method declarations. Do not edit by hand. -->', ''];
  out.push(
    'Every method is reachable over the Unix socket (newline-delimited JSON-RPC 2.0) and the WebSocket. Params may be positional, in the order listed, or named. The role is the least a WebSocket caller needs; the Unix socket is admin. Methods marked "answers during warm-up" work while services are still opening; all others answer -28 then.',
    '',
  );
  out.push('## Errors', '', '| code | name | meaning |', '| --- | --- | --- |');
  for (const e of ERROR_TABLE) out.push(`| ${e.code} | ${e.name} | ${e.meaning} |`);
  out.push(
    '',
    '## Event topics',
    '',
    'Subscribe with `subscribe {"topics":[...]}` (exact names or `namespace.*`). Each event arrives as `{"jsonrpc":"2.0","method":"event","params":{"subscription":id,"topic":name,"data":{...}}}`.',
    '',
    '| topic | owner | role | meaning |',
    '| --- | --- | --- | --- |',
  );
  for (const t of topics) out.push(`| \`${t.name}\` | ${t.owner} | ${t.role ?? 'readonly'} | ${t.summary} |`);
  out.push('', '## Methods', '');
  for (const m of methods) {
    out.push(`### ${m.name}`, '', m.summary, '');
    if (m.description) out.push(m.description, '');
    out.push(`Role: \`${m['x-anya-role']}\`${m['x-anya-during-warmup'] ? ' · answers during warm-up' : ''}`, '');
    if (m.errors?.length) out.push(`Errors: ${m.errors.map((e) => `${e.code} ${e.message}`).join(', ')}`, '');
    if (m.params.length) {
      out.push('| # | param | type | required | default | description |', '| --- | --- | --- | --- | --- | --- |');
      m.params.forEach((p, i) => {
        out.push(
          `| ${i + 1} | \`${p.name}\` | ${typeName(p.schema).replace(/\|/g, '\\|')} | ${p.required ? 'yes' : 'no'} | ${p.schema.default !== undefined ? `\`${JSON.stringify(p.schema.default)}\`` : ''} | ${p.description ?? ''} |`,
        );
      });
      out.push('');
    } else out.push('No params.', '');
    out.push('Result schema:', '', '```json', JSON.stringify(m.result.schema, null, 2), '```', '');
  }
  return out.join('\n');
}
