// Signing a digest: the gates every signature passes in its key's critical section (an active key, due policies
// applied, the raw-signing or contract rule), then the provider's signature, returned only once its audit entry is
// durable; a refusal is audited too. Plain, tweaked (BOLT 3), adaptor (DLC CETs) signatures and derived secrets.
// What a provider cannot do is refused from its declared capabilities, with the same words for every such provider.

import { createHash } from 'node:crypto';
import { rpcError } from '../core/errors.js';
import type { BatchOp } from '../core/store.js';
import type { ContractSigning } from './api.js';
import { providerError, subjectsOf, type HsmContext } from './context.js';
import { contractDetail, contractProblem } from './contract.js';
import { applyDue } from './policy-changes.js';
import type { KeyProvider, ProviderCapabilities, Scheme } from './provider.js';

/** Signs a 32-byte digest with an active key, unless a policy on the key forbids raw signing. */
export async function sign(c: HsmContext, id: string, digest: Buffer, scheme: Scheme, caller: string, contract?: ContractSigning): Promise<Buffer> {
  return signDigest(c, id, digest, caller, { scheme }, (p, handle) => p.sign(handle, digest, scheme), true, contract);
}

function keystoreOnly(c: HsmContext, what: string, whose: string, can: (caps: ProviderCapabilities) => boolean): string | undefined {
  const provider = c.need();
  return can(provider.capabilities)
    ? undefined
    : `the ${provider.kind} provider cannot ${what} (a token's ECDSA mechanism signs with its key as it is); ${whose} need the software keystore (hsm.provider=software)`;
}

/** Why this HSM cannot make ECDSA adaptor signatures (a token's mechanism signs plain ECDSA only), or undefined. */
export function adaptorRefusal(c: HsmContext): string | undefined {
  return keystoreOnly(c, 'make ECDSA adaptor signatures', 'DLC keys', (caps) => caps.adaptorSignatures);
}

/** Why this HSM cannot sign with tweaked keys or derive seeds (BOLT 3 channel keys), or undefined. */
export function channelRefusal(c: HsmContext): string | undefined {
  return keystoreOnly(c, 'sign with BOLT 3 tweaked keys', 'State channel keys', (caps) => caps.tweakedKeys && caps.derivedSecrets);
}

function refuseUnless(refusal: string | undefined): void {
  if (refusal) throw rpcError('Unsupported', refusal, { service: 'hsm' });
}

/** ECDSA with the key as (k·mul + add) mod n (BOLT 3 per-commitment and revocation keys): gated and audited as hsm.sign. */
export async function tweakedSign(
  c: HsmContext,
  id: string,
  digest: Buffer,
  tweak: { mul?: Buffer; add?: Buffer },
  caller: string,
  contract?: ContractSigning,
): Promise<Buffer> {
  refuseUnless(channelRefusal(c));
  const mul = tweak.mul ?? Buffer.from('01'.padStart(64, '0'), 'hex');
  const add = tweak.add ?? Buffer.alloc(32);
  return signDigest(c, id, digest, caller, { scheme: 'ecdsa-tweaked' }, (p, handle) => p.tweakedSign!(handle, digest, mul, add), false, contract);
}

/** A secret derived from the key and a label (a channel's per-commitment seed), audited as a use of the key. */
export async function derivedSecret(c: HsmContext, id: string, label: string, caller: string): Promise<Buffer> {
  refuseUnless(channelRefusal(c));
  const digest = createHash('sha256').update(label).digest();
  return signDigest(c, id, digest, caller, { scheme: 'derived-secret' }, (p, handle) => p.derivedSecret!(handle, Buffer.from(label)));
}

/**
 * ECDSA adaptor signatures (a DLC's CETs) of many digests, each under its encryption point, with a key of the
 * keystore: one pass of sign()'s key-state and policy gates and one audit entry, which names their count and a
 * SHA-256 over every (digest, point) pair in order; a DLC with a thousand CETs costs one synced write, not a
 * thousand, and the signatures are returned once the entry is durable.
 */
export async function adaptorSignAll(
  c: HsmContext,
  id: string,
  items: Array<{ point: Buffer; digest: Buffer }>,
  caller: string,
  contract?: ContractSigning,
): Promise<Buffer[]> {
  refuseUnless(adaptorRefusal(c));
  // The entry's digest is a SHA-256 over every (digest, point) pair in order: one 32-byte name for all of them.
  const h = createHash('sha256');
  for (const x of items) h.update(x.digest).update(x.point);
  const out: Buffer[] = [];
  // (With a context, its spends_sat is counted once for the call: the adaptor signatures are alternatives, of
  // which one CET at most is ever completed.)
  await signDigest(
    c,
    id,
    h.digest(),
    caller,
    { scheme: 'ecdsa-adaptor', count: items.length },
    async (p, handle) => {
      // Off the event loop where the provider can (the keystore's worker threads): a contract's thousands of CETs
      // at ~15 ms each would otherwise hold every RPC of every room for the whole call (issue 26 item 6).
      if (p.adaptorSignAll) for (const sig of await p.adaptorSignAll(handle, items)) out.push(Buffer.from(sig));
      else for (const x of items) out.push(Buffer.from(await p.adaptorSign!(handle, x.point, x.digest)));
      return out[0] ?? new Uint8Array();
    },
    false,
    contract,
  );
  return out;
}

/**
 * One signature of a digest under the key's lock: an active key, due policies applied, raw signing allowed by
 * them, then the provider's signature, returned once its audit entry is durable; a refusal is audited too.
 */
async function signDigest(
  c: HsmContext,
  id: string,
  digest: Buffer,
  caller: string,
  detail: Record<string, unknown>,
  make: (p: KeyProvider, handle: string) => Promise<Uint8Array>,
  /** `make` is the provider's sign(), which may run off this thread (KeyProvider.signsOffThread). */
  providerSign = false,
  /** The contract this signature is for (contract.ts): its rule instead of the raw-signing rule. */
  contract?: ContractSigning,
): Promise<Buffer> {
  const bad = contract && contractProblem(contract);
  if (bad) throw rpcError('InvalidParams', bad);
  // The subjects follow from the key's group, which never changes; its state does (hsm.rotatekey, disablekey),
  // so it is read again inside the critical section those take too (issue 26 item 10).
  const subjects = subjectsOf(await c.key(id));
  return c.locks.run(subjects, async () => {
    const k = await c.key(id);
    if (k.state !== 'active') {
      await c.record('deny', id, { rule: `key_${k.state}`, caller });
      throw rpcError('PolicyDenied', `key ${id} is ${k.state}${k.successor ? `; its successor is ${k.successor}` : ''}: it verifies but no longer signs`, {
        rule: `key_${k.state}`,
      });
    }
    for (const s of subjects) await applyDue(c, s);
    const ctx = contract ? contractDetail(contract) : {};
    let denial: { rule: string; message: string; subject?: string } | undefined;
    if (!contract) {
      // (A derived secret of a contract key, a channel's per-commitment seed, signs nothing: no raw-signing rule.)
      if (!(k.contract_kind && detail.scheme === 'derived-secret')) denial = await c.policy.rawSignDenial(subjects);
    } else if (!k.contract_kind)
      denial = {
        rule: 'contract_key',
        subject: `key:${id}`,
        message: `key ${id} was not made for a contract (HsmApi.generateKey), so it signs no contract's digests`,
      };
    else if (k.contract_kind !== contract.kind)
      denial = { rule: 'contract_kind', subject: `key:${id}`, message: `key ${id} is a ${k.contract_kind} key; the signature is for a ${contract.kind}` };
    else denial = await c.policy.contractDenial(subjects, contract.spends_sat);
    if (denial) {
      await c.record('deny', id, { rule: denial.rule, subject: denial.subject, digest: digest.toString('hex'), caller, ...ctx });
      throw rpcError('PolicyDenied', `policy denied the signature: ${denial.message}`, { rule: denial.rule, subject: denial.subject ?? null });
    }
    const provider = c.need();
    return signAudited(
      c,
      id,
      caller,
      { ...detail, digest: digest.toString('hex'), caller, ...ctx },
      () => make(provider, k.handle),
      providerSign && provider.signsOffThread === true,
      // The velocity counters in the entry's own batch, inside this critical section.
      contract ? c.policy.recordOps({ subjects, amount_sat: contract.spends_sat }) : [],
    );
  });
}

/**
 * The signature and its audit entry side by side, returned only once the entry is durable. Where the provider
 * signs on the thread pool (a token's C_Sign), the signature is started first and the entry prepared and written
 * while it runs; where it signs on this thread (the keystore's ECDSA), the entry's commit is issued first, so its
 * synced writes run on the thread pool meanwhile. A signature that then fails leaves its entry followed by a
 * sign_failed entry, so the log never shows a signature that was not made without saying so.
 */
async function signAudited(
  c: HsmContext,
  id: string,
  caller: string,
  detail: Record<string, unknown>,
  sign: () => Promise<Uint8Array>,
  offThread: boolean,
  extra: BatchOp[] = [],
): Promise<Buffer> {
  let signing: Promise<Uint8Array> | undefined;
  if (offThread) {
    signing = (async () => sign())();
    signing.catch(() => undefined); // settled below, after the entry's commit
  }
  let issued!: () => void;
  const onTheirWay = new Promise<void>((r) => (issued = r));
  const audited = c.record('sign', id, detail, extra, issued);
  if (!signing) {
    // (A commit that fails before its writes settles `audited` without calling `issued`.)
    await Promise.race([onTheirWay, audited.catch(() => undefined)]);
    signing = (async () => sign())();
  }
  const [signed, entry] = await Promise.allSettled([signing, audited]);
  if (entry.status === 'rejected') throw signed.status === 'rejected' ? providerError(signed.reason) : entry.reason;
  if (signed.status === 'rejected') {
    const err = providerError(signed.reason);
    await c.record('sign_failed', id, { caller, reason: err instanceof Error ? err.message : String(err) }).catch(() => undefined);
    throw err;
  }
  return Buffer.from(signed.value);
}
