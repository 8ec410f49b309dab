// The wallet's keys in a PSBT: inputs and outputs whose key origin (BIP32 derivation, or its Taproot form) names
// this seed's master fingerprint and a path of one of its wallet accounts (m/84'/coin'/0'/chain/index for P2WPKH,
// m/86'/coin'/0'/chain/index for P2TR key path). Each named key is derived here and must be the key the PSBT
// says (a mismatch is not ours: never signed, never change). Signing goes through the same gates as every key, under
// the subjects key:wallet and group:wallet, so a policy on group:wallet bounds what the wallet spends.

import * as bitcoin from 'bitcoinjs-lib';
import type { KeyRecord } from './context.js';
import type { HdAccount, KeyProvider, WalletAccountType } from './provider.js';
import type { SigningKey } from './psbt.js';

export const WALLET_KEY_ID = 'wallet';

/** The record the gates and the policy see for the wallet's keys (one subject for all of them). */
export function walletRecord(provider: KeyProvider['kind']): KeyRecord {
  return {
    id: WALLET_KEY_ID,
    label: 'wallet accounts (BIP84, BIP86)',
    group: 'wallet',
    provider,
    handle: WALLET_KEY_ID,
    curve: 'secp256k1',
    public_key: '',
    state: 'active',
    created: '',
  };
}

interface Origin {
  type: WalletAccountType;
  chain: number;
  index: number;
}

const PATH = /^m\/(84|86)'\/(\d+)'\/0'\/([01])\/(\d{1,10})$/;

function originOf(hd: HdAccount, fingerprint: Uint8Array, path: string, coin: number): Origin | undefined {
  if (Buffer.from(fingerprint).toString('hex') !== hd.fingerprint()) return undefined;
  const m = PATH.exec(path.replace(/h/g, "'"));
  if (!m || Number(m[2]) !== coin) return undefined;
  const index = Number(m[4]);
  if (index >= 0x80000000) return undefined;
  return { type: m[1] === '84' ? 'wpkh' : 'tr', chain: Number(m[3]), index };
}

/** The derived key when `claimed` (33-byte, or 32-byte x-only for Taproot) is what the origin gives. */
function checked(hd: HdAccount, o: Origin, claimed: Uint8Array): Buffer | undefined {
  const pub = Buffer.from(hd.walletPublicKey(o.type, o.chain, o.index));
  const ok = claimed.length === 32 ? pub.subarray(1).equals(Buffer.from(claimed)) : pub.equals(Buffer.from(claimed));
  return ok ? pub : undefined;
}

function originsOf(
  hd: HdAccount,
  coin: number,
  d: {
    bip32Derivation?: Array<{ masterFingerprint: Uint8Array; pubkey: Uint8Array; path: string }>;
    tapBip32Derivation?: Array<{ masterFingerprint: Uint8Array; pubkey: Uint8Array; path: string }>;
  },
): Array<{ o: Origin; pub: Buffer }> {
  const out: Array<{ o: Origin; pub: Buffer }> = [];
  for (const e of [...(d.bip32Derivation ?? []), ...(d.tapBip32Derivation ?? [])]) {
    const o = originOf(hd, e.masterFingerprint, e.path, coin);
    const pub = o && checked(hd, o, e.pubkey);
    if (o && pub && out.every((x) => !x.pub.equals(pub))) out.push({ o, pub });
  }
  return out;
}

const scriptOf = (o: Origin, pub: Buffer, network: bitcoin.Network): Buffer =>
  Buffer.from(
    (o.type === 'wpkh' ? bitcoin.payments.p2wpkh({ pubkey: pub, network }) : bitcoin.payments.p2tr({ internalPubkey: pub.subarray(1), network })).output!,
  );

/** The wallet's signing keys for the PSBT's inputs, and the output scripts that are the wallet's own (change). */
export function walletKeys(hd: HdAccount, base64: string, network: bitcoin.Network): { keys: SigningKey[]; change: Buffer[] } {
  let psbt: bitcoin.Psbt;
  try {
    psbt = bitcoin.Psbt.fromBase64(base64, { network });
  } catch {
    return { keys: [], change: [] }; // the planner says what is wrong with it
  }
  const coin = network.bech32 === 'bc' ? 0 : 1;
  const keys: SigningKey[] = [];
  for (const input of psbt.data.inputs) {
    for (const { o, pub } of originsOf(hd, coin, input)) {
      keys.push({
        id: WALLET_KEY_ID,
        publicKey: pub,
        schnorr: o.type === 'tr',
        sign: (digest, scheme, tapTweak) => hd.walletSign(o.type, o.chain, o.index, digest, scheme, tapTweak ? { tapTweak } : {}),
      });
    }
  }
  const change: Buffer[] = [];
  psbt.data.outputs.forEach((out, i) => {
    const script = Buffer.from(psbt.txOutputs[i]!.script);
    if (originsOf(hd, coin, out).some(({ o, pub }) => scriptOf(o, pub, network).equals(script))) change.push(script);
  });
  return { keys, change };
}
