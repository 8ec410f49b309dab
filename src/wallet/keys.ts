// The wallet's keys: BIP84 (P2WPKH) and BIP86 (P2TR, key path) accounts of the keystore's seed, each with a receive
// chain (0) and a change chain (1), as descriptors with their key origin (`wpkh([fp/84h/1h/0h]tpub…/0/*)`, tpub on
// every test network as Core prints them). Addresses come from the account xpub alone (@scure/bip32), so the wallet
// follows the chain while the keystore is locked; only signing needs the HSM. Descriptors are checked and their
// checksums written by @bitcoinerlab/descriptors.

import { HDKey } from '@scure/bip32';
import * as bitcoin from 'bitcoinjs-lib';
import { checksum } from '@bitcoinerlab/descriptors';
import * as ecc from '@bitcoinerlab/secp256k1';

bitcoin.initEccLib(ecc);

export const ADDRESS_TYPES = ['wpkh', 'tr'] as const;
export type AddressType = (typeof ADDRESS_TYPES)[number];
export type Chain = 0 | 1;
/** The output type of a script the wallet follows: the seed's accounts, and watch-only descriptors' kinds. */
export type ScriptType = AddressType | 'wsh' | 'sh' | 'pkh';

/** One account of the seed: what the HSM gives for m/84'/coin'/0' or m/86'/coin'/0'. */
export interface Account {
  type: AddressType;
  /** The master key's fingerprint, 8 hex digits. */
  fingerprint: string;
  /** The account path without m/, hardened steps written with ' (84'/1'/0'). */
  path: string;
  /** The account's extended public key (tpub off mainnet). */
  xpub: string;
}

/** Where a script of ours comes from: a seed account's chain, or (with `watch`) a watch-only descriptor. */
export interface KeyPlace {
  type: ScriptType;
  chain: Chain;
  index: number;
  /** The imported descriptor's id (watchonly.ts): a watch-only script, whose coins the HSM cannot sign for. */
  watch?: string;
  /** For a watch-only script: the virtual size of an input spending it (a seed account's is known by its type). */
  input_vsize?: number;
}

/** The key of a chain's highest used index: "wpkh:0" for a seed account (as stored before), "w:<id>" when watched. */
export const chainKeyOf = (p: KeyPlace): string => (p.watch !== undefined ? `w:${p.watch}` : `${p.type}:${p.chain}`);

export interface Derived extends KeyPlace {
  type: AddressType;
  script: Buffer;
  address: string;
  /** The child public key (33 bytes compressed). */
  pubkey: Buffer;
  /** Full path from the master: m/84'/1'/0'/0/5. */
  path: string;
}

/** Bitcoin Core's descriptor checksum, as @bitcoinerlab/descriptors computes it. */
const withChecksum = (d: string): string => `${d}#${checksum(d)}`;

export function descriptorOf(a: Account, chain: Chain): string {
  return withChecksum(`${a.type}([${a.fingerprint}/${a.path}]${a.xpub}/${chain}/*)`);
}

/** Derives addresses of one account; the chain nodes are kept so each address costs one child derivation. */
export class AccountKeys {
  private readonly chains: [HDKey, HDKey];
  readonly fingerprint: Buffer;

  constructor(
    readonly account: Account,
    private readonly network: bitcoin.Network,
  ) {
    const versions = network.bech32 === 'bc' ? undefined : { private: 0x04358394, public: 0x043587cf };
    const node = HDKey.fromExtendedKey(account.xpub, versions);
    this.chains = [node.deriveChild(0), node.deriveChild(1)];
    this.fingerprint = Buffer.from(account.fingerprint, 'hex');
  }

  derive(chain: Chain, index: number): Derived {
    const pubkey = Buffer.from(this.chains[chain].deriveChild(index).publicKey!);
    const payment =
      this.account.type === 'wpkh'
        ? bitcoin.payments.p2wpkh({ pubkey, network: this.network })
        : bitcoin.payments.p2tr({ internalPubkey: pubkey.subarray(1), network: this.network });
    return {
      type: this.account.type,
      chain,
      index,
      script: Buffer.from(payment.output!),
      address: payment.address!,
      pubkey,
      path: `m/${this.account.path}/${chain}/${index}`,
    };
  }
}
