// PSBT signing through bitcoinjs-lib's Psbt with a signer backed by a key provider: P2WPKH, P2SH-P2WPKH, P2WSH
// (e.g. multisig: any input whose witness script holds one of our keys) and, where the provider has Schnorr, P2TR
// key-path spends (BIP86: no script tree). Inputs without UTXO data are refused: the amount being signed must be
// known. Before anything is signed the spend is described (amount to others, fee, fee rate, own outputs) for the
// policy engine.

import * as ecc from '@bitcoinerlab/secp256k1';
import * as bitcoin from 'bitcoinjs-lib';
import { derToCompact } from './ecdsa.js';
import type { Scheme } from './provider.js';

bitcoin.initEccLib(ecc);

export interface SigningKey {
  id: string;
  publicKey: Buffer;
  schnorr: boolean;
  sign(digest: Uint8Array, scheme: Scheme, tapTweak?: Uint8Array): Promise<Uint8Array>;
}

interface InputPlan {
  index: number;
  key: SigningKey;
  kind: 'p2wpkh' | 'p2sh-p2wpkh' | 'p2wsh' | 'p2tr';
}

export interface PsbtPlan {
  psbt: bitcoin.Psbt;
  inputs: InputPlan[];
  keys: string[];
  in_sat: bigint;
  out_sat: bigint;
  amount_sat: bigint;
  fee_sat: bigint;
  vsize: number;
  outputs: Array<{ address: string | null; own: boolean; value_sat: number }>;
}

export class PsbtError extends Error {
  override name = 'PsbtError';
}

const xOnly = (pub: Buffer): Buffer => pub.subarray(1, 33);

/** The output scripts a key can receive at, to recognise our own outputs (change). */
export function ownScripts(pub: Buffer, network: bitcoin.Network, schnorr: boolean): Buffer[] {
  const w = bitcoin.payments.p2wpkh({ pubkey: pub, network });
  const out = [Buffer.from(w.output!), Buffer.from(bitcoin.payments.p2sh({ redeem: w, network }).output!)];
  if (schnorr) out.push(Buffer.from(bitcoin.payments.p2tr({ internalPubkey: xOnly(pub), network }).output!));
  return out;
}

export function addressesOf(pub: Buffer, network: bitcoin.Network, schnorr: boolean): Record<string, string> {
  const w = bitcoin.payments.p2wpkh({ pubkey: pub, network });
  const a: Record<string, string> = { p2wpkh: w.address!, p2sh_p2wpkh: bitcoin.payments.p2sh({ redeem: w, network }).address! };
  if (schnorr) a.p2tr = bitcoin.payments.p2tr({ internalPubkey: xOnly(pub), network }).address!;
  return a;
}

/** Works out which inputs our keys can sign and what the transaction does, without signing anything. */
export function planPsbt(base64: string, network: bitcoin.Network, keys: SigningKey[]): PsbtPlan {
  let psbt: bitcoin.Psbt;
  try {
    psbt = bitcoin.Psbt.fromBase64(base64, { network });
  } catch (err) {
    throw new PsbtError(`not a valid PSBT: ${(err as Error).message}`);
  }
  const inputs: InputPlan[] = [];
  let inSat = 0n;
  psbt.data.inputs.forEach((input, i) => {
    let script: Uint8Array;
    let value: bigint;
    if (input.witnessUtxo) {
      script = input.witnessUtxo.script;
      value = BigInt(input.witnessUtxo.value);
    } else if (input.nonWitnessUtxo) {
      const prev = bitcoin.Transaction.fromBuffer(input.nonWitnessUtxo);
      const out = prev.outs[psbt.txInputs[i]!.index];
      if (!out) throw new PsbtError(`input ${i}: its previous transaction has no output ${psbt.txInputs[i]!.index}`);
      script = out.script;
      value = BigInt(out.value);
    } else {
      throw new PsbtError(`input ${i} has no UTXO data (witness_utxo or non_witness_utxo): the amount it spends is unknown, so it is not signed`);
    }
    inSat += value;
    const s = Buffer.from(script);
    for (const key of keys) {
      const w = bitcoin.payments.p2wpkh({ pubkey: key.publicKey, network });
      if (s.equals(Buffer.from(w.output!))) {
        inputs.push({ index: i, key, kind: 'p2wpkh' });
        return;
      }
      if (input.redeemScript && Buffer.from(input.redeemScript).equals(Buffer.from(w.output!)) && s.equals(Buffer.from(bitcoin.payments.p2sh({ redeem: w, network }).output!))) {
        inputs.push({ index: i, key, kind: 'p2sh-p2wpkh' });
        return;
      }
      if (input.witnessScript && Buffer.from(input.witnessScript).includes(key.publicKey)) {
        const wsh = bitcoin.payments.p2wsh({ redeem: { output: input.witnessScript }, network });
        // A multisig script may hold several of our keys: each of them signs, so go on with the next key.
        if (s.equals(Buffer.from(wsh.output!))) inputs.push({ index: i, key, kind: 'p2wsh' });
        continue;
      }
      if (key.schnorr && input.tapInternalKey && Buffer.from(input.tapInternalKey).equals(xOnly(key.publicKey)) && s.equals(Buffer.from(bitcoin.payments.p2tr({ internalPubkey: xOnly(key.publicKey), network }).output!))) {
        inputs.push({ index: i, key, kind: 'p2tr' });
        return;
      }
    }
  });
  const own = keys.flatMap((k) => ownScripts(k.publicKey, network, k.schnorr));
  let outSat = 0n;
  let amount = 0n;
  const outputs = psbt.txOutputs.map((o) => {
    const v = BigInt(o.value);
    outSat += v;
    const isOwn = own.some((s) => s.equals(Buffer.from(o.script)));
    if (!isOwn) amount += v;
    let address: string | null = null;
    try {
      address = bitcoin.address.fromOutputScript(o.script, network);
    } catch {
      address = null;
    }
    return { address, own: isOwn, value_sat: Number(v) };
  });
  if (outSat > inSat) throw new PsbtError(`outputs (${outSat} sat) exceed inputs (${inSat} sat)`);
  return { psbt, inputs, keys: [...new Set(inputs.map((p) => p.key.id))], in_sat: inSat, out_sat: outSat, amount_sat: amount, fee_sat: inSat - outSat, vsize: estimateVsize(psbt, inputs), outputs };
}

/** Virtual size once signed: the unsigned transaction plus each input's expected witness. */
function estimateVsize(psbt: bitcoin.Psbt, plans: InputPlan[]): number {
  const base = psbt.data.globalMap.unsignedTx.toBuffer().length;
  let witnessWeight = 2; // marker and flag
  let extraBase = 0;
  psbt.data.inputs.forEach((input, i) => {
    const kind = plans.find((p) => p.index === i)?.kind;
    if (kind === 'p2tr') witnessWeight += 1 + 1 + 64;
    else if (kind === 'p2wsh' && input.witnessScript) {
      const m = Math.max(1, input.witnessScript[0]! - 0x50);
      witnessWeight += 1 + 1 + m * 73 + 3 + input.witnessScript.length;
    } else witnessWeight += 1 + 1 + 72 + 1 + 33;
    if (kind === 'p2sh-p2wpkh') extraBase += 23;
  });
  return Math.ceil(((base + extraBase) * 4 + witnessWeight) / 4);
}

/** Signs the planned inputs; answers the indexes signed. */
export async function signPlanned(plan: PsbtPlan, network: bitcoin.Network): Promise<number[]> {
  const signed: number[] = [];
  for (const p of plan.inputs) {
    if (p.kind === 'p2tr') {
      const internal = xOnly(p.key.publicKey);
      const tweak = bitcoin.crypto.taggedHash('TapTweak', internal);
      const outputKey = Buffer.from(bitcoin.payments.p2tr({ internalPubkey: internal, network }).pubkey!);
      await plan.psbt.signInputAsync(p.index, {
        publicKey: Buffer.concat([Buffer.from([0x02]), outputKey]),
        sign: () => {
          throw new PsbtError('ECDSA is not used for a Taproot input');
        },
        signSchnorr: (hash: Uint8Array) => p.key.sign(hash, 'schnorr', tweak),
      } as never);
    } else {
      await plan.psbt.signInputAsync(p.index, {
        publicKey: p.key.publicKey,
        sign: async (hash: Uint8Array) => derToCompact(await p.key.sign(hash, 'ecdsa')),
      } as never);
    }
    if (!signed.includes(p.index)) signed.push(p.index);
  }
  return signed;
}
