// Watch-only descriptors (wallet.importdescriptors, Bitcoin Core's importdescriptors shape): a hardware wallet's
// `wpkh([fp/84h/1h/0h]tpub…/0/*)#checksum` or a multisig `wsh(sortedmulti(2,[fp1/…]tpub…/0/*,…))`, parsed and
// derived by @bitcoinerlab/descriptors. Their scripts join the wallet's script book under the gap limit; the coins
// they receive are watch-only: counted apart, never spent by wallet.send, funded into a PSBT (wallet.fundpsbt
// watchonly) that the key holders sign elsewhere. A descriptor is refused whole, naming what is wrong, before any of
// it is kept: syntax, checksum (Core's, when given), a key of another network, a private key, a bad range.
//
// Records (the wallet sublevel): d:<id> an imported descriptor, id its checksum (Core's descriptor checksum is what
// names a descriptor there too).

import { HDKey } from '@scure/bip32';
import type * as bitcoin from 'bitcoinjs-lib';
import { Output, checksum } from '@bitcoinerlab/descriptors';
import { rpcError } from '../core/errors.js';
import type { KeyPlace, ScriptType } from './keys.js';

/** Core refuses a range wider than this in importdescriptors too (DEFAULT_KEYPOOL_SIZE ranges stay far below). */
export const MAX_RANGE = 10_000;
/** Core's default range for a ranged descriptor imported without one: [0, 999]. */
const DEFAULT_RANGE_END = 999;

export interface WatchRequest {
  desc: string;
  range?: number | [number, number];
  internal?: boolean;
  label?: string;
}

/** An imported descriptor as kept. */
export interface WatchDescriptor {
  id: string;
  /** The descriptor with its checksum. */
  desc: string;
  ranged: boolean;
  /** Inclusive index range (0..0 when not ranged). */
  range: [number, number];
  internal: boolean;
  label: string;
  /** The output type, for listunspent and the size of an input spending it. */
  type: ScriptType;
  /** The virtual size of an input spending one of its outputs once signed (as the library weighs it). */
  input_vsize: number;
  /** When it was imported (unix seconds). */
  timestamp: number;
}

export interface WatchDerived {
  script: Buffer;
  address: string;
  output: InstanceType<typeof Output>;
}

const EXTENDED_KEY = /\b[xt]pub[1-9A-HJ-NP-Za-km-z]{100,112}\b/g;
const PRIVATE_KEY = /\b[xt]prv[1-9A-HJ-NP-Za-km-z]{100,112}\b/;
const TEST_VERSIONS = { private: 0x04358394, public: 0x043587cf };
const MAIN_VERSIONS = { private: 0x0488ade4, public: 0x0488b21e };

function extendedKeyFits(key: string, versions: { private: number; public: number }): boolean {
  try {
    HDKey.fromExtendedKey(key, versions);
    return true;
  } catch {
    return false;
  }
}

/** The library's message without the descriptor it may quote (it could hold a private key, a secret never logged). */
const cleaned = (message: string, desc: string): string =>
  message
    .replace(desc, 'the descriptor')
    .replace(/^(\w*Error: )+/, '')
    .slice(0, 300);

const typeOf = (o: InstanceType<typeof Output>): ScriptType => {
  const g = o.guessOutput();
  if (g.isWPKH) return 'wpkh';
  if (g.isWSH) return 'wsh';
  if (g.isTR) return 'tr';
  if (g.isSH) return 'sh';
  return 'pkh';
};

/**
 * The virtual size of a signed input spending the descriptor's output, for the coin choice and the fee. The library
 * weighs what it can satisfy (miniscript, single keys); a multi/sortedmulti witness script (not miniscript to it) is
 * weighed here: 41 vB of outpoint, empty scriptSig and sequence, and a witness of its item count, the empty item
 * CHECKMULTISIG pops, m DER signatures (72 bytes at most, with the sighash byte) and the script (BIP141 weights).
 */
function inputVsize(output: InstanceType<typeof Output>, at: string): number {
  try {
    return Math.ceil(output.inputWeight(true, 'DANGEROUSLY_USE_FAKE_SIGNATURES') / 4);
  } catch {
    const ws = output.getWitnessScript();
    const m = ws ? ws[0]! - 0x50 : 0;
    if (!ws || ws[ws.length - 1] !== 0xae || m < 1 || m > 16)
      throw rpcError('InvalidParams', `${at}: the wallet cannot size an input of this descriptor (only single keys, miniscript and multisig)`);
    const varint = (n: number): number => (n < 0xfd ? 1 : 3);
    const witness = 1 + 1 + m * 73 + varint(ws.length) + ws.length;
    return 41 + Math.ceil(witness / 4);
  }
}

/**
 * Checks one request and answers the descriptor to keep (pure: `at` names the request in errors). Refuses a private
 * key (watch-only keeps none), an extended key of another network than the wallet's, a bad checksum or syntax, a
 * range given to a descriptor without `*`, and a range that is backwards or wider than MAX_RANGE.
 */
export function checkWatchRequest(r: WatchRequest, network: bitcoin.Network, at: string, now: number): WatchDescriptor {
  const desc = r.desc.trim();
  if (PRIVATE_KEY.test(desc)) throw rpcError('InvalidParams', `${at}: the descriptor holds a private key; import the public (watch-only) descriptor`);
  const mainnet = network.bech32 === 'bc';
  for (const key of desc.match(EXTENDED_KEY) ?? []) {
    if (extendedKeyFits(key, mainnet ? MAIN_VERSIONS : TEST_VERSIONS)) continue;
    const other = extendedKeyFits(key, mainnet ? TEST_VERSIONS : MAIN_VERSIONS);
    throw rpcError(
      'InvalidParams',
      other
        ? `${at}: wrong network: ${key.slice(0, 4)}… is a ${mainnet ? 'test network' : 'mainnet'} key, this wallet is on ${mainnet ? 'mainnet (xpub)' : 'a test network (tpub)'}`
        : `${at}: the extended key ${key.slice(0, 12)}… is not valid (bad base58 checksum or length)`,
    );
  }
  const hash = desc.indexOf('#');
  const body = hash >= 0 ? desc.slice(0, hash) : desc;
  if (hash >= 0 && desc.slice(hash + 1) !== checksum(body))
    throw rpcError('InvalidParams', `${at}: bad descriptor checksum #${desc.slice(hash + 1, hash + 9)} (the descriptor's is another)`);
  const ranged = /\*/.test(body);
  if (!ranged && r.range !== undefined)
    throw rpcError('InvalidParams', `${at}: range given, but the descriptor is not ranged (no /*): it describes a single address`);
  const range: [number, number] = !ranged ? [0, 0] : r.range === undefined ? [0, DEFAULT_RANGE_END] : typeof r.range === 'number' ? [0, r.range] : r.range;
  if (range[0] > range[1]) throw rpcError('InvalidParams', `${at}: range [${range[0]}, ${range[1]}] ends before it starts`);
  if (range[1] - range[0] + 1 > MAX_RANGE)
    throw rpcError('InvalidParams', `${at}: range [${range[0]}, ${range[1]}] is over ${MAX_RANGE} addresses; import it in parts`);
  let output: InstanceType<typeof Output>;
  try {
    output = new Output({ descriptor: desc, ...(ranged ? { index: range[0] } : {}), network, checksumRequired: false });
    output.getScriptPubKey();
  } catch (err) {
    throw rpcError('InvalidParams', `${at}: not a valid descriptor of this network: ${cleaned(String(err), desc)}`);
  }
  const full = `${body}#${checksum(body)}`;
  const vsize = inputVsize(output, at);
  return {
    id: checksum(body),
    desc: full,
    ranged,
    range,
    internal: r.internal ?? false,
    label: r.label ?? '',
    type: typeOf(output),
    input_vsize: vsize,
    timestamp: now,
  };
}

/** Derives the output of one index (the descriptor was checked when imported). */
export function deriveWatched(w: WatchDescriptor, index: number, network: bitcoin.Network): WatchDerived {
  const output = new Output({ descriptor: w.desc, ...(w.ranged ? { index } : {}), network });
  return { script: Buffer.from(output.getScriptPubKey()), address: output.getAddress(), output };
}

/** The script book's entry for one index of a watched descriptor. */
export const watchPlace = (w: WatchDescriptor, index: number): KeyPlace => ({
  type: w.type,
  chain: w.internal ? 1 : 0,
  index,
  watch: w.id,
  input_vsize: w.input_vsize,
});

/**
 * The key origins of a derived output (BIP174 PSBT_OUT_BIP32_DERIVATION / BIP371 PSBT_OUT_TAP_BIP32_DERIVATION), and
 * its witness script: what a hardware wallet or a cosigner checks to recognise a change output as its own. The
 * library's updatePsbtAsOutput writes the script alone.
 */
export function outputFields(output: WatchDerived['output']): {
  bip32Derivation?: Array<{ masterFingerprint: Buffer; pubkey: Buffer; path: string }>;
  tapBip32Derivation?: Array<{ masterFingerprint: Buffer; pubkey: Buffer; path: string; leafHashes: Buffer[] }>;
  witnessScript?: Buffer;
} {
  const keys = Object.values(output.expand().expansionMap ?? {}).filter((k) => k.pubkey && k.masterFingerprint && k.path);
  const origins = keys.map((k) => ({
    masterFingerprint: Buffer.from(k.masterFingerprint!),
    pubkey: Buffer.from(k.pubkey!),
    path: k.path!.replace(/[hH]/g, "'"),
  }));
  const ws = output.getWitnessScript();
  if (output.isTaproot()) return origins.length > 0 ? { tapBip32Derivation: origins.map((o) => ({ ...o, leafHashes: [] })) } : {};
  return { ...(origins.length > 0 ? { bip32Derivation: origins } : {}), ...(ws ? { witnessScript: Buffer.from(ws) } : {}) };
}
