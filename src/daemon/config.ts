// bitcoin.conf-style configuration: `key=value` lines, `#` comments, `[main] [test] [signet] [regtest]` sections,
// repeated keys for lists, and `-key=value` command-line arguments that override the file. Everything is checked
// against one option table before the daemon starts; the first problem is reported with its file:line and key.

import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { NETWORKS, type Network, type OptionGroup, type OptionSpec, type OptionValue } from '../core/options.js';
import type { Config as RoomConfig } from '../core/config.js';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Where a raw value came from, for error messages. */
interface RawValue {
  value: string;
  where: string;
}

interface RawSource {
  /** key -> values in order of appearance; a list key may have several. */
  values: Map<string, RawValue[]>;
}

const SECTION_NAMES: Record<string, Network> = { main: 'main', test: 'test', signet: 'signet', regtest: 'regtest' };
const NETWORK_SUBDIR: Record<Network, string> = { main: '', test: 'testnet3', signet: 'signet', regtest: 'regtest' };
const MAX_CONF_BYTES = 1024 * 1024;
const MAX_VALUE_LENGTH = 4096;

/** Options every anyad reads before any room: where the data and the config file are, and which network. */
export const BASE_OPTIONS: OptionGroup = {
  title: 'General',
  options: [
    {
      key: 'conf',
      type: 'path',
      scope: 'cli',
      description: 'Configuration file; a relative path is taken from the data directory.',
      defaultText: '<datadir>/anya.conf',
    },
    {
      key: 'datadir',
      type: 'path',
      scope: 'global',
      description: 'Data directory. Non-main networks use a subdirectory (testnet3, signet, regtest).',
      defaultText: '~/.anya',
    },
    { key: 'network', type: 'enum', scope: 'global', values: NETWORKS, default: 'main', description: 'Bitcoin network: main, test, signet or regtest.' },
    { key: 'regtest', type: 'bool', scope: 'global', default: false, description: 'Shorthand for network=regtest.' },
    { key: 'testnet', type: 'bool', scope: 'global', default: false, description: 'Shorthand for network=test.' },
    { key: 'signet', type: 'bool', scope: 'global', default: false, description: 'Shorthand for network=signet.' },
    {
      key: 'restore',
      type: 'path',
      scope: 'cli',
      description:
        'Start from a backup file written by the `backup` RPC (checked against backupkeyfile). The current state, if any, is moved aside, never deleted.',
    },
    {
      key: 'acceptstate',
      type: 'bool',
      scope: 'cli',
      default: false,
      description:
        'Start even though the state is not the one anyad last wrote (damaged, emptied, older, or another), taking it as it is: what is missing stays missing. What was found is recorded in the state and the audit log. Without it anyad refuses such a state by name.',
    },
    {
      key: 'minfreespace',
      type: 'int',
      default: 100,
      min: 0,
      max: 1048576,
      description:
        'MiB of free disk space the data directory should keep (about a day of heavy writing); below it `health` is degraded and says so. Writes go on until the disk refuses them, then fail with StorageFailure (nothing half-written) and resume by themselves once space is back.',
    },
    {
      key: 'backupdir',
      type: 'path',
      default: 'backups',
      description: 'The only directory the `backup` RPC writes to (made 0700; relative to the network directory).',
    },
    {
      key: 'backupkeyfile',
      type: 'path',
      default: 'backup.key',
      description:
        'Key of the HMAC every backup carries (32 random bytes, 0600, made at the first backup; never inside a backup). Keep a copy apart from the backups: -restore needs it.',
    },
  ],
};

export interface ConfigInput {
  argv: readonly string[];
  groups: readonly OptionGroup[];
  /** Environment for ~ expansion; defaults to the process's home. */
  home?: string;
}

/** A validated configuration: typed getters, the network, and where each directory is. */
export class Config implements RoomConfig {
  constructor(
    readonly network: Network,
    readonly datadir: string,
    /** The directory for this network's files (datadir itself on main). */
    readonly netdir: string,
    readonly confFile: string | undefined,
    private readonly values: Map<string, OptionValue>,
    private readonly specs: Map<string, OptionSpec>,
    private readonly explicit: Set<string>,
  ) {}

  private spec(key: string, type: OptionSpec['type'] | 'text'): OptionSpec {
    const spec = this.specs.get(key);
    if (!spec) throw new Error(`config key '${key}' is not declared by any room`);
    if (type === 'text' ? spec.type !== 'string' && spec.type !== 'path' && spec.type !== 'enum' : spec.type !== type) {
      throw new Error(`config key '${key}' is a ${spec.type}, not read as ${type}`);
    }
    return spec;
  }
  str(key: string): string | undefined {
    this.spec(key, 'text');
    return this.values.get(key) as string | undefined;
  }
  /** A path option resolved against the network directory, or undefined when unset. */
  path(key: string): string | undefined {
    this.spec(key, 'path');
    const v = this.values.get(key) as string | undefined;
    if (v === undefined || v === '') return undefined;
    return isAbsolute(v) ? v : resolve(this.netdir, v);
  }
  int(key: string): number {
    this.spec(key, 'int');
    return this.values.get(key) as number;
  }
  bool(key: string): boolean {
    this.spec(key, 'bool');
    return this.values.get(key) as boolean;
  }
  list(key: string): string[] {
    this.spec(key, 'list');
    return [...((this.values.get(key) as string[] | undefined) ?? [])];
  }
  /**
   * The same configuration with some values replaced (a room that chooses a setting for the user, e.g. regtest's
   * embedded keystore); the replaced keys count as set.
   */
  withValues(overrides: Record<string, OptionValue>): Config {
    const values = new Map(this.values);
    for (const [k, v] of Object.entries(overrides)) {
      if (!this.specs.has(k)) throw new Error(`config key '${k}' is not declared by any room`);
      values.set(k, v);
    }
    return new Config(this.network, this.datadir, this.netdir, this.confFile, values, this.specs, new Set([...this.explicit, ...Object.keys(overrides)]));
  }

  /** True when the user set the key (file or command line), false when the default applies. */
  isSet(key: string): boolean {
    return this.explicit.has(key);
  }
}

/** Parses, merges and validates the command line and the config file. Throws ConfigError. */
export function loadConfig(input: ConfigInput): Config {
  const specs = indexOptions(input.groups);
  const cli = parseArgv(input.argv);
  const home = input.home ?? homedir();

  // The data directory and config file come from the command line first; the file may still set datadir.
  checkKeys(cli, specs, 'command line');
  const cliDatadir = lastValue(cli, 'datadir');
  let datadir = expandHome(cliDatadir?.value ?? join(home, '.anya'), home);
  const confArg = lastValue(cli, 'conf');
  const confFile = confArg
    ? isAbsolute(expandHome(confArg.value, home))
      ? expandHome(confArg.value, home)
      : resolve(datadir, confArg.value)
    : join(datadir, 'anya.conf');

  const file = readConfFile(confFile, confArg !== undefined);
  if (file) {
    for (const src of [file.top, ...file.sections.values()]) checkKeys(src, specs, confFile);
    for (const [, src] of file.sections) {
      for (const [key, vals] of src.values) {
        const scope = specs.get(key)?.scope;
        if (scope === 'global' || scope === 'cli') throw new ConfigError(`${vals[0]!.where}: ${key}: may not stand in a network section`);
      }
    }
    for (const [key, vals] of file.top.values) {
      if (specs.get(key)?.scope === 'cli') throw new ConfigError(`${vals[0]!.where}: ${key}: is a command-line option, not a config file key`);
    }
    const fileDatadir = lastValue(file.top, 'datadir');
    if (fileDatadir && !cliDatadir) datadir = expandHome(fileDatadir.value, home);
  }
  if (!isAbsolute(datadir)) datadir = resolve(datadir);

  const network = chooseNetwork(cli, file?.top);
  const netdir = NETWORK_SUBDIR[network] ? join(datadir, NETWORK_SUBDIR[network]) : datadir;

  const values = new Map<string, OptionValue>();
  const explicit = new Set<string>();
  for (const spec of specs.values()) {
    const raw = pick(spec, cli, file?.sections.get(network), file?.top);
    if (raw.length > 0) explicit.add(spec.key);
    values.set(spec.key, convert(spec, raw, network));
  }
  values.set('network', network);
  values.set('datadir', datadir);
  return new Config(network, datadir, netdir, file ? confFile : undefined, values, specs, explicit);
}

function indexOptions(groups: readonly OptionGroup[]): Map<string, OptionSpec> {
  const specs = new Map<string, OptionSpec>();
  for (const g of groups) {
    for (const o of g.options) {
      if (specs.has(o.key)) throw new Error(`config key '${o.key}' is declared twice`);
      specs.set(o.key, o);
    }
  }
  return specs;
}

function expandHome(p: string, home: string): string {
  return p === '~' ? home : p.startsWith('~/') ? join(home, p.slice(2)) : p;
}

function lastValue(src: RawSource, key: string): RawValue | undefined {
  const v = src.values.get(key);
  return v?.[v.length - 1];
}

function add(src: RawSource, key: string, value: RawValue): void {
  const list = src.values.get(key);
  if (list) list.push(value);
  else src.values.set(key, [value]);
}

/** `-key=value`, `--key=value`, `-key` (bool true / empty string), `-nokey` (bool false), as bitcoind reads them. */
export function parseArgv(argv: readonly string[]): RawSource {
  const src: RawSource = { values: new Map() };
  for (const arg of argv) {
    if (!arg.startsWith('-') || arg === '-' || arg === '--') {
      throw new ConfigError(`command line: unexpected argument '${arg}' (options look like -key=value)`);
    }
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const key = eq < 0 ? body : body.slice(0, eq);
    const value = eq < 0 ? '' : body.slice(eq + 1);
    if (!/^[a-z][a-z0-9.]*$/.test(key)) throw new ConfigError(`command line: -${key}: not a valid option name`);
    add(src, key, { value: eq < 0 ? '\u0000bare' : value, where: 'command line' });
  }
  return src;
}

interface ConfFile {
  top: RawSource;
  sections: Map<Network, RawSource>;
}

function readConfFile(path: string, required: boolean): ConfFile | undefined {
  let text: string;
  try {
    const buf = readFileSync(path);
    if (buf.length > MAX_CONF_BYTES) throw new ConfigError(`${path}: config file is larger than ${MAX_CONF_BYTES} bytes`);
    text = buf.toString('utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !required) return undefined;
    throw new ConfigError(`${path}: cannot read config file (${code ?? 'error'})`);
  }
  return parseConfText(text, path);
}

export function parseConfText(text: string, name: string): ConfFile {
  const top: RawSource = { values: new Map() };
  const sections = new Map<Network, RawSource>();
  let current = top;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const where = `${name}:${i + 1}`;
    const hash = lines[i]!.indexOf('#');
    const line = (hash >= 0 ? lines[i]!.slice(0, hash) : lines[i]!).trim();
    if (line === '') continue;
    const section = /^\[(.*)\]$/.exec(line);
    if (section) {
      const net = SECTION_NAMES[section[1]!.trim()];
      if (!net) throw new ConfigError(`${where}: unknown section [${section[1]}] (use [main], [test], [signet] or [regtest])`);
      current = sections.get(net) ?? { values: new Map() };
      sections.set(net, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) throw new ConfigError(`${where}: expected key=value, got '${truncate(line)}'`);
    const key = line.slice(0, eq).trim();
    if (!/^[a-z][a-z0-9.]*$/.test(key)) throw new ConfigError(`${where}: '${truncate(key)}' is not a valid key name`);
    add(current, key, { value: line.slice(eq + 1).trim(), where });
  }
  return { top, sections };
}

function truncate(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

function checkKeys(src: RawSource, specs: Map<string, OptionSpec>, where: string): void {
  for (const [key, vals] of src.values) {
    const spec = specs.get(key);
    // bitcoind's negation: -nokey means key=0, only for booleans and only on the command line.
    if (!spec && key.startsWith('no') && where === 'command line') {
      const base = specs.get(key.slice(2));
      if (base?.type === 'bool') {
        src.values.delete(key);
        for (const v of vals) {
          if (v.value !== '\u0000bare' && v.value !== '1') throw new ConfigError(`command line: -${key}: takes no value`);
          add(src, base.key, { value: '0', where: v.where });
        }
        continue;
      }
    }
    if (!spec) {
      const hint = closest(key, [...specs.keys()]);
      const at = vals[0]!.where;
      throw new ConfigError(`${at}: unknown option '${key}'${hint ? ` (did you mean '${hint}'?)` : ''}`);
    }
    if (spec.type !== 'list' && vals.length > 1 && where !== 'command line') {
      throw new ConfigError(`${vals[1]!.where}: ${key}: set more than once (first at ${vals[0]!.where})`);
    }
  }
}

/** The nearest known key within edit distance 2, to suggest on a typo. */
function closest(key: string, keys: string[]): string | undefined {
  let best: string | undefined;
  let bestDist = 3;
  for (const k of keys) {
    const d = editDistance(key, k);
    if (d < bestDist) {
      best = k;
      bestDist = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}

function chooseNetwork(cli: RawSource, fileTop: RawSource | undefined): Network {
  for (const src of [cli, fileTop]) {
    if (!src) continue;
    const chosen = new Map<Network, string>();
    const net = lastValue(src, 'network');
    if (net) {
      if (!NETWORKS.includes(net.value as Network))
        throw new ConfigError(`${net.where}: network: must be one of ${NETWORKS.join(', ')}, got '${truncate(net.value)}'`);
      chosen.set(net.value as Network, `${net.where}: network=${net.value}`);
    }
    for (const [key, n] of [
      ['regtest', 'regtest'],
      ['testnet', 'test'],
      ['signet', 'signet'],
    ] as const) {
      const v = lastValue(src, key);
      if (v && parseBool(v, key)) chosen.set(n, `${v.where}: ${key}`);
    }
    if (chosen.size > 1) throw new ConfigError(`${[...chosen.values()].join(' and ')} name different networks; choose one`);
    if (chosen.size === 1) return [...chosen.keys()][0]!;
  }
  return 'main';
}

function parseBool(v: RawValue, key: string): boolean {
  if (v.value === '\u0000bare' || v.value === '1' || v.value === 'true') return true;
  if (v.value === '0' || v.value === 'false' || v.value === '') return false;
  throw new ConfigError(`${v.where}: ${key}: expected 1 or 0, got '${truncate(v.value)}'`);
}

/** Precedence: command line, then the file's section for the network, then the file's top level. */
function pick(spec: OptionSpec, cli: RawSource, section: RawSource | undefined, top: RawSource | undefined): RawValue[] {
  for (const src of [cli, section, top]) {
    const v = src?.values.get(spec.key);
    if (v && v.length > 0) return spec.type === 'list' ? v : [v[v.length - 1]!];
  }
  return [];
}

function convert(spec: OptionSpec, raw: RawValue[], net: Network): OptionValue {
  const fail = (v: RawValue, msg: string): never => {
    throw new ConfigError(`${v.where}: ${spec.key}: ${msg}`);
  };
  for (const v of raw) {
    if (v.value.length > MAX_VALUE_LENGTH) fail(v, `value longer than ${MAX_VALUE_LENGTH} characters`);
  }
  switch (spec.type) {
    case 'bool': {
      const v = raw[0];
      return v ? parseBool(v, spec.key) : spec.default;
    }
    case 'int': {
      const v = raw[0];
      if (!v) return typeof spec.default === 'function' ? spec.default(net) : spec.default;
      if (!/^-?\d+$/.test(v.value)) fail(v, `expected an integer from ${spec.min} to ${spec.max}, got '${truncate(v.value)}'`);
      const n = Number(v.value);
      if (!Number.isSafeInteger(n) || n < spec.min || n > spec.max) fail(v, `expected an integer from ${spec.min} to ${spec.max}, got ${truncate(v.value)}`);
      return n;
    }
    case 'enum': {
      const v = raw[0];
      if (!v) return spec.default;
      if (!spec.values.includes(v.value)) fail(v, `must be one of ${spec.values.join(', ')}, got '${truncate(v.value)}'`);
      return v.value;
    }
    case 'string':
    case 'path': {
      const v = raw[0];
      if (!v) return typeof spec.default === 'function' ? spec.default(net) : (spec.default ?? '');
      if (v.value === '\u0000bare') fail(v, 'needs a value (-key=value)');
      if (spec.maxLength !== undefined && v.value.length > spec.maxLength) fail(v, `longer than ${spec.maxLength} characters`);
      const err = spec.check?.(v.value);
      if (err) fail(v, err);
      return v.value;
    }
    case 'list': {
      return raw.map((v) => {
        if (v.value === '\u0000bare') fail(v, 'needs a value (-key=value)');
        if (spec.maxLength !== undefined && v.value.length > spec.maxLength) fail(v, `longer than ${spec.maxLength} characters`);
        const err = spec.check?.(v.value);
        if (err) fail(v, err);
        return v.value;
      });
    }
  }
}

/** The text of `anyad -help`: every option with its default, grouped by the room that owns it. */
export function helpText(groups: readonly OptionGroup[]): string {
  const out: string[] = ['Usage: anyad [options]', '', 'Options may also be set in anya.conf as key=value (without the dash).', ''];
  out.push('  -help', '       Print this help and exit.', '  -version', '       Print the version and exit.', '');
  for (const g of groups) {
    out.push(`${g.title}:`, '');
    for (const o of g.options) {
      const arg = o.type === 'bool' ? '' : o.type === 'list' ? '=<value> (repeatable)' : o.type === 'int' ? '=<n>' : '=<value>';
      out.push(`  -${o.key}${arg}`);
      const def = defaultText(o);
      out.push(`       ${o.description}${def !== undefined ? ` (default: ${def})` : ''}`);
    }
    out.push('');
  }
  return out.join('\n');
}

export function defaultText(o: OptionSpec): string | undefined {
  if (o.defaultText !== undefined) return o.defaultText;
  switch (o.type) {
    case 'bool':
      return o.default ? '1' : '0';
    case 'int':
      return typeof o.default === 'function' ? NETWORKS.map((n) => `${n}: ${(o.default as (n: Network) => number)(n)}`).join(', ') : String(o.default);
    case 'enum':
      return o.default;
    case 'string':
    case 'path':
      if (typeof o.default === 'function') return NETWORKS.map((n) => `${n}: ${(o.default as (n: Network) => string)(n)}`).join(', ');
      return o.default === undefined || o.default === '' ? undefined : o.default;
    case 'list':
      return undefined;
  }
}
