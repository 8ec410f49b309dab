// PSBT signing through bitcoinjs-lib's Psbt with a signer backed by a key provider: P2WPKH, P2SH-P2WPKH, P2WSH
// (e.g. multisig: any input whose witness script holds one of our keys), P2PKH (from the full previous
// transaction) and, where the provider has Schnorr, P2TR key-path spends (BIP86: no script tree). Amounts are
// verified before they count (see previousOutput). Before anything is signed the spend is described (outputs, fee,
// fee rate, sighash types) for the policy engine.

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
  kind: 'p2wpkh' | 'p2sh-p2wpkh' | 'p2wsh' | 'p2tr' | 'p2pkh';
  /** The input's sighash type as the PSBT asks for it (undefined: ALL, or DEFAULT for Taproot). */
  sighashType?: number;
}

export interface PsbtPlan {
  psbt: bitcoin.Psbt;
  inputs: InputPlan[];
  keys: string[];
  in_sat: bigint;
  out_sat: bigint;
  fee_sat: bigint;
  /** False when an input's amount rests only on a witness_utxo nothing commits to (see verifiedAmounts). */
  fee_verified: boolean;
  vsize: number;
  /** Sighash types asked for other than ALL and Taproot's DEFAULT. */
  sighash_types: number[];
  outputs: Array<{ address: string | null; script: Buffer; value_sat: number }>;
}

export class PsbtError extends Error {
  override name = 'PsbtError';
}

const xOnly = (pub: Buffer): Buffer => pub.subarray(1, 33);

/** The output scripts a key can receive at, to recognise change. */
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

/**
 * The previous output an input spends, and whether its amount is verified. A non_witness_utxo is checked against
 * the input's txid (a full transaction cannot lie about its outputs once its hash matches); a witness_utxo alone is
 * only the caller's word, the fee-overpayment trick of CVE-2020-14199 for segwit v0, unless a Taproot signature
 * of ours commits to every input's amount (BIP341), which the caller settles after planning.
 */
function previousOutput(psbt: bitcoin.Psbt, i: number): { script: Uint8Array; value: bigint; verified: boolean } {
  const input = psbt.data.inputs[i]!;
  const txin = psbt.txInputs[i]!;
  let full: { script: Uint8Array; value: bigint } | undefined;
  if (input.nonWitnessUtxo) {
    let prev: bitcoin.Transaction;
    try {
      prev = bitcoin.Transaction.fromBuffer(input.nonWitnessUtxo);
    } catch (err) {
      throw new PsbtError(`input ${i}: its non_witness_utxo is not a transaction (${(err as Error).message})`);
    }
    if (!Buffer.from(prev.getHash()).equals(Buffer.from(txin.hash))) {
      throw new PsbtError(
        `input ${i}: its non_witness_utxo is transaction ${prev.getId()}, but the input spends ${Buffer.from(txin.hash).reverse().toString('hex')}`,
      );
    }
    const out = prev.outs[txin.index];
    if (!out) throw new PsbtError(`input ${i}: its previous transaction has no output ${txin.index}`);
    full = { script: out.script, value: BigInt(out.value) };
  }
  if (input.witnessUtxo) {
    const w = { script: input.witnessUtxo.script, value: BigInt(input.witnessUtxo.value) };
    if (full && (full.value !== w.value || !Buffer.from(full.script).equals(Buffer.from(w.script)))) {
      throw new PsbtError(`input ${i}: its witness_utxo (${w.value} sat) does not match output ${txin.index} of its non_witness_utxo (${full.value} sat)`);
    }
    return { ...w, verified: full !== undefined };
  }
  if (full) return { ...full, verified: true };
  throw new PsbtError(`input ${i} has no UTXO data (witness_utxo or non_witness_utxo): the amount it spends is unknown, so it is not signed`);
}

/**
 * Works out which inputs our keys can sign and what the transaction does, without signing anything. A segwit v0
 * input we would sign must have a verified amount; `changeFor` answers the scripts that count as change for the
 * keys that sign (the service's rule: their group).
 */
export function planPsbt(base64: string, network: bitcoin.Network, keys: SigningKey[]): PsbtPlan {
  let psbt: bitcoin.Psbt;
  try {
    psbt = bitcoin.Psbt.fromBase64(base64, { network });
  } catch (err) {
    throw new PsbtError(`not a valid PSBT: ${(err as Error).message}`);
  }
  const inputs: InputPlan[] = [];
  let inSat = 0n;
  const unverified: number[] = [];
  psbt.data.inputs.forEach((input, i) => {
    const prev = previousOutput(psbt, i);
    inSat += prev.value;
    if (!prev.verified) unverified.push(i);
    const s = Buffer.from(prev.script);
    const sighashType = input.sighashType;
    const add = (key: SigningKey, kind: InputPlan['kind']): void => {
      inputs.push({ index: i, key, kind, ...(sighashType !== undefined ? { sighashType } : {}) });
    };
    for (const key of keys) {
      const w = bitcoin.payments.p2wpkh({ pubkey: key.publicKey, network });
      if (s.equals(Buffer.from(w.output!))) return add(key, 'p2wpkh');
      if (
        input.redeemScript &&
        Buffer.from(input.redeemScript).equals(Buffer.from(w.output!)) &&
        s.equals(Buffer.from(bitcoin.payments.p2sh({ redeem: w, network }).output!))
      )
        return add(key, 'p2sh-p2wpkh');
      if (input.witnessScript && Buffer.from(input.witnessScript).includes(key.publicKey)) {
        const wsh = bitcoin.payments.p2wsh({ redeem: { output: input.witnessScript }, network });
        // A multisig script may hold several of our keys: each of them signs, so go on with the next key.
        if (s.equals(Buffer.from(wsh.output!))) add(key, 'p2wsh');
        continue;
      }
      if (
        key.schnorr &&
        input.tapInternalKey &&
        Buffer.from(input.tapInternalKey).equals(xOnly(key.publicKey)) &&
        s.equals(Buffer.from(bitcoin.payments.p2tr({ internalPubkey: xOnly(key.publicKey), network }).output!))
      )
        return add(key, 'p2tr');
      if (s.equals(Buffer.from(bitcoin.payments.p2pkh({ pubkey: key.publicKey, network }).output!))) {
        // Legacy: bitcoinjs-lib signs it only from the full previous transaction, which also verifies the amount.
        if (!input.nonWitnessUtxo) throw new PsbtError(`input ${i} is P2PKH: it is signed only with its non_witness_utxo (the full previous transaction)`);
        return add(key, 'p2pkh');
      }
    }
  });
  for (const p of inputs) {
    if (p.kind !== 'p2tr' && unverified.includes(p.index)) {
      throw new PsbtError(
        `input ${p.index} (${p.kind}) carries only a witness_utxo: its amount is the caller's word (CVE-2020-14199); add its non_witness_utxo (the previous transaction)`,
      );
    }
  }
  // A BIP341 signature of ours commits to every input's amount and script: lies make the transaction invalid.
  const feeVerified = unverified.length === 0 || inputs.some((p) => p.kind === 'p2tr');
  let outSat = 0n;
  const outputs = psbt.txOutputs.map((o) => {
    const v = BigInt(o.value);
    outSat += v;
    let address: string | null = null;
    try {
      address = bitcoin.address.fromOutputScript(o.script, network);
    } catch {
      address = null;
    }
    return { address, script: Buffer.from(o.script), value_sat: Number(v) };
  });
  if (outSat > inSat) throw new PsbtError(`outputs (${outSat} sat) exceed inputs (${inSat} sat)`);
  const sighashTypes = [
    ...new Set(
      inputs
        .filter(
          (p) =>
            p.sighashType !== undefined &&
            p.sighashType !== bitcoin.Transaction.SIGHASH_ALL &&
            !(p.kind === 'p2tr' && p.sighashType === bitcoin.Transaction.SIGHASH_DEFAULT),
        )
        .map((p) => p.sighashType!),
    ),
  ];
  return {
    psbt,
    inputs,
    keys: [...new Set(inputs.map((p) => p.key.id))],
    in_sat: inSat,
    out_sat: outSat,
    fee_sat: inSat - outSat,
    fee_verified: feeVerified,
    vsize: estimateVsize(psbt, inputs),
    sighash_types: sighashTypes,
    outputs,
  };
}

/** Virtual size once signed: the unsigned transaction plus each input's expected witness. */
function estimateVsize(psbt: bitcoin.Psbt, plans: InputPlan[]): number {
  const base = psbt.data.globalMap.unsignedTx.toBuffer().length;
  let witnessWeight = 2; // marker and flag
  let extraBase = 0;
  psbt.data.inputs.forEach((input, i) => {
    const kind = plans.find((p) => p.index === i)?.kind;
    if (kind === 'p2tr') witnessWeight += 1 + 1 + 64;
    else if (kind === 'p2pkh') {
      witnessWeight += 1;
      extraBase += 1 + 72 + 1 + 33;
    } else if (kind === 'p2wsh' && input.witnessScript) {
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
      await plan.psbt.signInputAsync(
        p.index,
        {
          publicKey: Buffer.concat([Buffer.from([0x02]), outputKey]),
          sign: () => {
            throw new PsbtError('ECDSA is not used for a Taproot input');
          },
          signSchnorr: (hash: Uint8Array) => p.key.sign(hash, 'schnorr', tweak),
        } as never,
        p.sighashType !== undefined ? [p.sighashType] : undefined,
      );
    } else {
      await plan.psbt.signInputAsync(
        p.index,
        {
          publicKey: p.key.publicKey,
          sign: async (hash: Uint8Array) => derToCompact(await p.key.sign(hash, 'ecdsa')),
        } as never,
        p.sighashType !== undefined ? [p.sighashType] : undefined,
      );
    }
    if (!signed.includes(p.index)) signed.push(p.index);
  }
  return signed;
}
