// hsm.signpsbt: the inputs the HSM has keys for, signed after the key states (a retired key only sweeps to its
// successor), the signing policy and every veto allowed the spend, in the critical sections of the signing keys'
// subjects; the counters and the audit entry that account for the spend are durable before the PSBT is returned.

import * as bitcoin from 'bitcoinjs-lib';
import { rpcError } from '../core/errors.js';
import type { ContractSigning } from './api.js';
import { providerError, subjectsOf, type HsmContext, type KeyRecord } from './context.js';
import { contractDetail, contractProblem } from './contract.js';
import type { SpendFacts } from './policy.js';
import { applyDue } from './policy-changes.js';
import { ownScripts, planPsbt, PsbtError, signPlanned, type SigningKey } from './psbt.js';
import type { HdAccount } from './provider.js';
import { walletKeys, walletRecord, WALLET_KEY_ID } from './wallet-keys.js';

/**
 * The id the transaction will have: the unsigned transaction's when every input is segwit (witnesses are not part
 * of the txid); with legacy inputs, known only once they are all signed (their scriptSig is part of it), else null.
 */
function txidOf(psbt: bitcoin.Psbt): string | null {
  try {
    const c = psbt.clone();
    c.finalizeAllInputs();
    return c.extractTransaction(true).getId();
  } catch {
    const segwit = psbt.data.inputs.every((i) => i.witnessUtxo !== undefined);
    return segwit ? bitcoin.Transaction.fromBuffer(psbt.data.globalMap.unsignedTx.toBuffer()).getId() : null;
  }
}

/** The wallet's keys of the PSBT (wallet-keys.ts); a locked keystore says so rather than leaving them unsigned. */
function walletKeysOrLocked(hd: HdAccount, base64: string, network: bitcoin.Network): ReturnType<typeof walletKeys> {
  try {
    return walletKeys(hd, base64, network);
  } catch (err) {
    throw providerError(err);
  }
}

function signingKeys(c: HsmContext, keys: KeyRecord[]): SigningKey[] {
  const p = c.need();
  const schnorr = p.status().schnorr;
  return keys
    .filter((k) => k.id !== WALLET_KEY_ID)
    .filter((k) => (k.state === 'active' || k.state === 'retired') && k.curve === 'secp256k1' && k.provider === p.kind)
    .map((k) => ({
      id: k.id,
      publicKey: Buffer.from(k.public_key, 'hex'),
      schnorr,
      sign: (digest, scheme, tapTweak) =>
        p.capabilities.taprootTweak ? p.sign(k.handle, digest, scheme, tapTweak ? { tapTweak } : {}) : p.sign(k.handle, digest, scheme),
    }));
}

/** The successors of a retired key, newest last (a sweep may pay any of them). */
function successors(k: KeyRecord, byId: Map<string, KeyRecord>): KeyRecord[] {
  const out: KeyRecord[] = [];
  for (let s = k.successor ? byId.get(k.successor) : undefined; s && out.length < 100; s = s.successor ? byId.get(s.successor) : undefined) out.push(s);
  return out;
}

/**
 * Change, by rule: the keys of the signing key's own group (the key itself when it has none), of the configured
 * change group, and a retired key's successors. An output is change only when it is change for every signing key.
 */
function changeScripts(c: HsmContext, signer: KeyRecord, all: KeyRecord[], byId: Map<string, KeyRecord>): Buffer[] {
  const schnorr = c.need().status().schnorr;
  // A retired key's only change is its successor: what it holds is swept, nowhere else.
  const mates =
    signer.state === 'retired'
      ? []
      : all.filter(
          (k) =>
            k.curve === 'secp256k1' &&
            k.state !== 'disabled' &&
            (k.id === signer.id ||
              (signer.group !== null && k.group === signer.group) ||
              (c.settings.changeGroup !== undefined && k.group === c.settings.changeGroup)),
        );
  return [...mates, ...successors(signer, byId)].flatMap((k) =>
    ownScripts(Buffer.from(k.public_key, 'hex'), c.network, schnorr && k.provider === c.need().kind),
  );
}

export interface PsbtSigned {
  psbt: string;
  txid: string | null;
  signed: number[];
  keys: string[];
  amount_sat: number;
  fee_sat: number;
  feerate_sat_vb: number;
}

/** Signs what it can of a PSBT after the policy (and any veto) allowed the spend. */
export async function signPsbt(
  c: HsmContext,
  base64: string,
  caller: string,
  /** A contract's funding (contract.ts): its spends_sat is the amount the policy counts, named in the audit entry. */
  contract?: ContractSigning,
): Promise<PsbtSigned> {
  const bad = contract && contractProblem(contract);
  if (bad) throw rpcError('InvalidParams', bad);
  const hd = c.need().capabilities.hdAccount;
  const wallet = hd ? walletKeysOrLocked(hd, base64, c.network) : { keys: [], change: [] };
  const withWallet = (keys: KeyRecord[]): KeyRecord[] => (wallet.keys.length > 0 ? [...keys, walletRecord(c.need().kind)] : keys);
  const all = withWallet(await c.keys());
  let plan;
  try {
    plan = planPsbt(base64, c.network, [...signingKeys(c, all), ...wallet.keys]);
  } catch (err) {
    if (err instanceof PsbtError) throw rpcError('InvalidParams', err.message);
    throw err;
  }
  const txid = txidOf(plan.psbt);
  if (plan.inputs.length === 0) return { psbt: base64, txid, signed: [], keys: [], amount_sat: 0, fee_sat: Number(plan.fee_sat), feerate_sat_vb: 0 };
  // The subjects follow from the signing keys' groups, which never change; the keys' states (and so what counts
  // as change: a retired key's is its successor only) are read inside the critical section (issue 26 item 10).
  const subjects = [...new Set(plan.keys.flatMap((id) => subjectsOf(all.find((k) => k.id === id)!)))];
  return c.locks.run(subjects, async () => {
    const now = withWallet(await c.keys());
    const byId = new Map(now.map((k) => [k.id, k]));
    const signers = plan.keys.map((id) => byId.get(id)!);
    const change = signers.map((k) => (k.id === WALLET_KEY_ID ? wallet.change : changeScripts(c, k, now, byId)));
    const outputs = plan.outputs.map((o) => ({
      address: o.address,
      own: change.every((set) => set.some((s) => s.equals(o.script))),
      value_sat: o.value_sat,
    }));
    const facts: SpendFacts = {
      psbt: base64,
      subjects,
      // A contract's funding pays into an output both sides hold, beside the counterparty's inputs and change: what
      // this side moves away is what its room says (spends_sat), not every output that is not its own.
      amount_sat: contract ? contract.spends_sat : outputs.filter((o) => !o.own).reduce((a, o) => a + o.value_sat, 0),
      fee_sat: Number(plan.fee_sat),
      feerate_sat_vb: Math.round((Number(plan.fee_sat) / plan.vsize) * 100) / 100,
      fee_verified: plan.fee_verified,
      sighash_types: plan.sighash_types,
      outputs,
    };
    const summary = {
      txid,
      outputs: outputs.map((o) => ({ address: o.address, value_sat: o.value_sat, change: o.own })),
      amount_sat: facts.amount_sat,
      fee_sat: facts.fee_sat,
      caller,
      ...(contract ? contractDetail(contract) : {}),
    };
    for (const s of subjects) await applyDue(c, s);
    let denial: { rule: string; message: string; subject?: string } | undefined;
    const disabled = signers.find((k) => k.state === 'disabled');
    if (disabled) denial = { rule: 'key_disabled', subject: `key:${disabled.id}`, message: `key ${disabled.id} is disabled` };
    const retired = signers.find((k) => k.state === 'retired');
    if (!denial && retired && outputs.some((o) => !o.own))
      denial = {
        rule: 'retired_sweep',
        subject: `key:${retired.id}`,
        message: `key ${retired.id} is retired: it signs only a sweep to its successor ${retired.successor ?? '(none)'}`,
      };
    denial ??= await c.policy.evaluate(facts);
    if (denial) {
      await c.record('deny', plan.keys[0] ?? null, { rule: denial.rule, subject: denial.subject, ...summary });
      throw rpcError('PolicyDenied', `policy denied the signature: ${denial.message}`, { rule: denial.rule, subject: denial.subject ?? null });
    }
    let signed: number[];
    try {
      signed = await signPlanned(plan, c.network);
    } catch (err) {
      throw providerError(err);
    }
    // The signature leaves anyad only once the counters and the audit entry that account for it are durable.
    const finalTxid = txidOf(plan.psbt);
    await c.record('sign', plan.keys[0] ?? null, { psbt_inputs: signed, keys: plan.keys, ...summary, txid: finalTxid }, c.policy.recordOps(facts));
    return {
      psbt: plan.psbt.toBase64(),
      txid: finalTxid,
      signed,
      keys: plan.keys,
      amount_sat: facts.amount_sat,
      fee_sat: facts.fee_sat,
      feerate_sat_vb: facts.feerate_sat_vb,
    };
  });
}
