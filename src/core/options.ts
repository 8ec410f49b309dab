// The option contract every room uses to declare its configuration keys. This file is a leaf: rooms and the
// config parser both import it, so nothing here may import from a room.

export const NETWORKS = ['main', 'test', 'signet', 'regtest'] as const;
export type Network = (typeof NETWORKS)[number];

export type OptionValue = string | number | boolean | string[];

interface OptionBase {
  key: string;
  /** One or two sentences for -help and anya.conf.example. */
  description: string;
  /** Where the key may stand: anywhere, only on the command line, or in the file outside network sections. */
  scope?: 'any' | 'cli' | 'global';
  /** The default as documentation shows it, when it is computed (e.g. depends on the network). */
  defaultText?: string;
}

export interface StringOption extends OptionBase {
  type: 'string' | 'path';
  default?: string | ((net: Network) => string);
  /** Extra check on the raw value; returns an error message or undefined. */
  check?: (value: string) => string | undefined;
  maxLength?: number;
}
export interface IntOption extends OptionBase {
  type: 'int';
  default: number | ((net: Network) => number);
  min: number;
  max: number;
  /** Unit shown in help, e.g. "bytes", "seconds". */
  unit?: string;
}
export interface BoolOption extends OptionBase {
  type: 'bool';
  default: boolean;
}
export interface EnumOption extends OptionBase {
  type: 'enum';
  values: readonly string[];
  default: string;
}
export interface ListOption extends OptionBase {
  type: 'list';
  check?: (value: string) => string | undefined;
  maxLength?: number;
}

export type OptionSpec = StringOption | IntOption | BoolOption | EnumOption | ListOption;

/** A titled group of options owned by one room; the order of groups is the order of -help and the example file. */
export interface OptionGroup {
  title: string;
  options: readonly OptionSpec[];
}
