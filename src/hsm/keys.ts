// Key management: making keys (with an intent written first where anyad names the handle), adopting the orphans a
// crash left, rotating and disabling keys, and verifying signatures. Every key event is written with its audit entry.

import { createHash, randomBytes } from 'node:crypto';
import { rpcError } from '../core/errors.js';
import type { BatchOp } from '../core/store.js';
import type { ContractKind } from './contract.js';
import { providerError, subjectsOf, type HsmContext, type KeyRecord } from './context.js';
import { verifySignature } from './ecdsa.js';
import type { Curve, Scheme } from './provider.js';

const keyIdOf = (publicKey: string): string => createHash('sha256').update(publicKey).digest('hex').slice(0, 16);

export interface GenerateOptions {
  predecessor?: string;
  /** Writes that belong with the new key (a rotation's policy carried over), in its batch. */
  withKey?: (rec: KeyRecord) => BatchOp[];
  /** A contract key (HsmApi.generateKey): its group is the kind's unless one is named. */
  contractKind?: ContractKind;
}

/**
 * Creates a key. An intent naming the handle is durable before the provider makes the key, so a crash between
 * the two leaves an orphan that the next start finds (adoptOrphans) instead of a key nobody knows of.
 */
export async function generateKey(c: HsmContext, label: string, curve: Curve, group: string | null, opts: GenerateOptions = {}): Promise<KeyRecord> {
  const { predecessor, withKey = () => [], contractKind } = opts;
  if (contractKind) group ??= contractKind;
  const p = c.need();
  return c.locks.run('keygen', async () => {
    try {
      const handle = p.capabilities.namedHandles ? randomBytes(16).toString('hex') : undefined;
      const intent = `gi:${handle ?? 'keystore'}`;
      if (handle) await c.store.batch([{ type: 'put', sublevel: c.db, key: intent, value: { label, curve, group, time: new Date().toISOString() } }]);
      const pk = await p.generateKey(label, curve, handle);
      const rec: KeyRecord = {
        id: keyIdOf(pk.publicKey),
        label,
        group,
        provider: p.kind,
        handle: pk.handle,
        curve,
        public_key: pk.publicKey,
        state: 'active',
        created: new Date().toISOString(),
        ...(predecessor ? { predecessor } : {}),
        ...(contractKind ? { contract_kind: contractKind } : {}),
      };
      await c.record(
        'generate',
        rec.id,
        { label, curve, group, provider: p.kind, ...(predecessor ? { predecessor } : {}), ...(contractKind ? { contract_kind: contractKind } : {}) },
        [c.putKey(rec), ...withKey(rec), ...(handle ? [{ type: 'del' as const, sublevel: c.db, key: intent }] : [])],
      );
      return rec;
    } catch (err) {
      throw providerError(err);
    }
  });
}

/**
 * Keys the provider holds that the registry does not: made just before a crash, never acknowledged to anyone, so
 * nothing can have been paid to them. They are registered disabled (refuse rather than guess) and audited.
 */
export async function adoptOrphans(c: HsmContext): Promise<void> {
  const p = c.need();
  const known = new Set((await c.keys()).filter((k) => k.provider === p.kind).map((k) => k.handle));
  const intents = new Map<string, { label: string; group: string | null }>();
  for await (const [k, v] of c.db.iterator({ gte: 'gi:', lt: 'gi;' })) intents.set(k.slice(3), v as { label: string; group: string | null });
  let held;
  try {
    held = await p.listKeys();
  } catch {
    return;
  }
  for (const pk of held) {
    if (known.has(pk.handle)) continue;
    // Where anyad names the handles (a token), only keys anyad said it was making are its own (others may share it).
    const intent = intents.get(pk.handle);
    if (p.capabilities.namedHandles && !intent) continue;
    const rec: KeyRecord = {
      id: keyIdOf(pk.publicKey),
      label: intent?.label ?? 'orphan',
      group: intent?.group ?? null,
      provider: p.kind,
      handle: pk.handle,
      curve: pk.curve,
      public_key: pk.publicKey,
      state: 'disabled',
      created: new Date().toISOString(),
    };
    c.log.warn({ key: rec.id, handle: pk.handle }, 'HSM: a key made before a crash was never registered; registered as disabled');
    await c.record('orphan', rec.id, { handle: pk.handle, state: 'disabled' }, [
      c.putKey(rec),
      ...(intent ? [{ type: 'del' as const, sublevel: c.db, key: `gi:${pk.handle}` }] : []),
    ]);
  }
  for (const h of intents.keys()) if (known.has(h)) await c.store.batch([{ type: 'del', sublevel: c.db, key: `gi:${h}` }]);
}

/**
 * Makes a successor key, retires the old one (it still verifies; it signs only a sweep to its successor) and carries
 * its policy over. In the old key's critical section (the one its signatures take): its state checked there, so of
 * concurrent rotations one makes a successor and the others are refused, and no signature of the old key is made
 * once it is retired. The successor is written with its policy in one batch, so it never signs without it.
 */
export async function rotate(c: HsmContext, id: string): Promise<KeyRecord> {
  const subjects = subjectsOf(await c.key(id));
  return c.locks.run(subjects, async () => {
    const old = await c.key(id);
    if (old.state !== 'active') throw rpcError('Conflict', `key ${id} is ${old.state}; only an active key is rotated`);
    const policy = await c.policy.get(`key:${id}`);
    const next = await generateKey(c, old.label, old.curve, old.group, {
      predecessor: id,
      withKey: (rec) => (policy ? c.policy.setOps(`key:${rec.id}`, policy) : []),
      contractKind: old.contract_kind,
    });
    await c.record('rotate', id, { successor: next.id }, [c.putKey({ ...old, state: 'retired', successor: next.id })]);
    return next;
  });
}

export async function disable(c: HsmContext, id: string): Promise<KeyRecord> {
  return c.locks.run(subjectsOf(await c.key(id)), async () => {
    const k = await c.key(id);
    try {
      if (k.provider === c.need().kind) await c.need().disableKey(k.handle);
    } catch (err) {
      throw providerError(err);
    }
    const rec: KeyRecord = { ...(await c.key(id)), state: 'disabled' };
    await c.record('disable', id, {}, [c.putKey(rec)]);
    return rec;
  });
}

export async function verify(c: HsmContext, id: string, digest: Buffer, signature: Buffer, scheme: Scheme): Promise<boolean> {
  const k = await c.key(id);
  return verifySignature(k.curve, scheme, k.public_key, digest, signature);
}
