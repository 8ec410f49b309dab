// Policy changes: what tightens applies at once; what loosens waits hsm.policydelay (meanwhile the meet of old and
// new applies), can be cancelled, and takes effect on time; each change is audited and announced on hsm.policy.
// Every change runs in the subject's critical section, the one its signatures take.

import { rpcError } from '../core/errors.js';
import type { HsmContext } from './context.js';
import { loosening, meet, type PendingPolicy, type Policy } from './policy.js';
import { HSM_POLICY } from './topics.js';

function announce(
  c: HsmContext,
  state: 'applied' | 'pending' | 'effective' | 'cancelled',
  subject: string,
  policy: Policy | null,
  extra: Record<string, unknown> = {},
): void {
  c.bus.publish(HSM_POLICY, { subject, state, policy, ...extra });
}

const keyOfSubject = (subject: string): string | null => (subject.startsWith('key:') ? subject.slice(4) : null);

/**
 * Sets (or, with null, removes) a policy. What tightens applies at once; what loosens waits hsm.policydelay,
 * meanwhile the meet of old and new applies. A later request replaces a pending one.
 */
export async function setPolicy(
  c: HsmContext,
  subject: string,
  next: Policy | null,
  caller: string,
): Promise<{ policy: Policy | null; pending: PendingPolicy | null }> {
  return c.locks.run(subject, async () => {
    await applyDue(c, subject);
    const current = await c.policy.get(subject);
    const loosens = loosening(current, next);
    const keyOf = keyOfSubject(subject);
    const hadPending = await c.policy.pending(subject);
    if (loosens.length === 0 || c.settings.policyDelaySec === 0) {
      await c.record('policy', keyOf, { subject, policy: next, caller, ...(loosens.length ? { loosens } : {}) }, [
        ...c.policy.setOps(subject, next),
        ...(hadPending ? c.policy.pendingOps(subject, null) : []),
      ]);
      announce(c, 'applied', subject, next);
      return { policy: next, pending: null };
    }
    const now = Date.now();
    const pending: PendingPolicy = {
      subject,
      policy: next,
      requested: new Date(now).toISOString(),
      effective_at: new Date(now + c.settings.policyDelaySec * 1000).toISOString(),
      caller,
      loosens,
    };
    const interim = meet(current, next);
    await c.record('policy_pending', keyOf, { ...pending, interim }, [...c.policy.setOps(subject, interim), ...c.policy.pendingOps(subject, pending)]);
    announce(c, 'pending', subject, next, { effective_at: pending.effective_at, loosens, interim });
    return { policy: interim, pending };
  });
}

export async function cancelPolicy(c: HsmContext, subject: string, caller: string): Promise<PendingPolicy> {
  return c.locks.run(subject, async () => {
    await applyDue(c, subject);
    const pending = await c.policy.pending(subject);
    if (!pending) throw rpcError('NotFound', `no pending policy change for ${subject}`);
    await c.record('policy_cancelled', keyOfSubject(subject), { subject, caller, requested: pending.requested }, c.policy.pendingOps(subject, null));
    announce(c, 'cancelled', subject, pending.policy);
    return pending;
  });
}

/** Inside the subject's lock: a pending loosening whose time has come takes effect. */
export async function applyDue(c: HsmContext, subject: string, now = Date.now()): Promise<void> {
  const pending = await c.policy.pending(subject);
  if (!pending || Date.parse(pending.effective_at) > now) return;
  await c.record('policy_effective', keyOfSubject(subject), { subject, policy: pending.policy, requested: pending.requested, caller: pending.caller }, [
    ...c.policy.setOps(subject, pending.policy),
    ...c.policy.pendingOps(subject, null),
  ]);
  announce(c, 'effective', subject, pending.policy);
}

/** Every pending loosening whose time has come, each in its subject's lock (at start and on a timer). */
export async function applyDuePolicies(c: HsmContext): Promise<void> {
  for (const p of await c.policy.allPending()) await c.locks.run(p.subject, () => applyDue(c, p.subject));
}
