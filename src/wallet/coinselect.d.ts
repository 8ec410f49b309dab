// Types for coinselect (bitcoinjs/coinselect), which ships none: values in satoshis, sizes from `script.length`.
declare module 'coinselect' {
  export interface Utxo {
    value: number;
    script?: { length: number };
    [k: string]: unknown;
  }
  export interface Target {
    value?: number;
    address?: string;
    script?: { length: number };
  }
  export interface Selection<U> {
    inputs?: U[];
    outputs?: Target[];
    fee: number;
  }
  export default function coinSelect<U extends Utxo>(utxos: U[], outputs: Target[], feeRate: number): Selection<U>;
}
declare module 'coinselect/accumulative.js' {
  import type { Selection, Target, Utxo } from 'coinselect';
  export default function accumulative<U extends Utxo>(utxos: U[], outputs: Target[], feeRate: number): Selection<U>;
}
