// The HSM service: one key provider, the key registry (labels, groups, lifecycle: active, retired, disabled) in the
// hsm sublevel, the signing policy, and the audit log. Every key event is written together with its audit entry.
// This class only wires the room's modules over one shared context (context.ts): key management (keys.ts), signing
// digests (signing.ts) and PSBTs (psbt-signing.ts), policy changes (policy-changes.ts), the provider's and the
// keystore's lifecycle (lifecycle.ts) and secrets at rest (sealing.ts).

import { HealthCell, type Service } from '../core/service.js';
import type { ContractSigning, NodeKey } from './api.js';
import type { AuditLog } from './audit.js';
import { HsmContext, type HsmServiceOptions, type KeyRecord } from './context.js';
import * as keys from './keys.js';
import * as lifecycle from './lifecycle.js';
import * as nodeKeys from './node-key.js';
import type { PendingPolicy, Policy, PolicyEngine, Veto } from './policy.js';
import * as policyChanges from './policy-changes.js';
import type { Curve, KeyProvider, Scheme } from './provider.js';
import * as psbtSigning from './psbt-signing.js';
import * as sealing from './sealing.js';
import * as signing from './signing.js';

export type { HsmServiceOptions, HsmSettings, HsmStore, KeyRecord } from './context.js';

export class HsmService implements Service {
  readonly name = 'hsm';
  private readonly cell = new HealthCell('starting', 'opening the key provider');
  private readonly c: HsmContext;
  private pendingTimer: NodeJS.Timeout | undefined;

  constructor(options: HsmServiceOptions) {
    this.c = new HsmContext(options);
  }

  get provider(): KeyProvider | undefined {
    return this.c.provider;
  }
  get audit(): AuditLog {
    return this.c.audit;
  }
  get policy(): PolicyEngine {
    return this.c.policy;
  }

  health(): ReturnType<HealthCell['get']> {
    const s = this.c.provider?.status();
    if (s) this.cell.set(s.ready ? 'ok' : 'degraded', s.detail);
    return this.cell.get();
  }

  /** Opens the provider (lifecycle.ts), applies due policies, and from then on applies them on time. */
  async open(): Promise<void> {
    await lifecycle.openProvider(this.c);
    await policyChanges.applyDuePolicies(this.c);
    // Loosenings take effect on time (and are announced) even when nobody signs.
    this.pendingTimer = setInterval(
      () => void policyChanges.applyDuePolicies(this.c).catch((err) => this.c.log.error({ err }, 'applying pending policies failed')),
      Math.min(30_000, Math.max(1000, this.c.settings.policyDelaySec * 250)),
    );
    this.pendingTimer.unref();
  }

  async close(): Promise<void> {
    if (this.pendingTimer) clearInterval(this.pendingTimer);
    await this.c.audit.close();
    this.c.dataKey?.fill(0);
    this.c.dataKey = undefined;
    await this.c.provider?.close();
    this.cell.set('stopped', 'closed');
  }

  /** Lets another room veto signatures (e.g. the ML room's transaction risk). */
  addVeto(name: string, veto: Veto): void {
    this.c.policy.addVeto(name, veto);
  }

  keys(): Promise<KeyRecord[]> {
    return this.c.keys();
  }
  key(id: string): Promise<KeyRecord> {
    return this.c.key(id);
  }
  generateKey(label: string, curve: Curve, group: string | null, opts?: keys.GenerateOptions): Promise<KeyRecord> {
    return keys.generateKey(this.c, label, curve, group, opts);
  }
  rotate(id: string): Promise<KeyRecord> {
    return keys.rotate(this.c, id);
  }
  disable(id: string): Promise<KeyRecord> {
    return keys.disable(this.c, id);
  }
  verify(id: string, digest: Buffer, signature: Buffer, scheme: Scheme): Promise<boolean> {
    return keys.verify(this.c, id, digest, signature, scheme);
  }

  sign(id: string, digest: Buffer, scheme: Scheme, caller: string, contract?: ContractSigning): Promise<Buffer> {
    return signing.sign(this.c, id, digest, scheme, caller, contract);
  }
  adaptorRefusal(): string | undefined {
    return signing.adaptorRefusal(this.c);
  }
  channelRefusal(): string | undefined {
    return signing.channelRefusal(this.c);
  }
  tweakedSign(id: string, digest: Buffer, tweak: { mul?: Buffer; add?: Buffer }, caller: string, contract?: ContractSigning): Promise<Buffer> {
    return signing.tweakedSign(this.c, id, digest, tweak, caller, contract);
  }
  derivedSecret(id: string, label: string, caller: string): Promise<Buffer> {
    return signing.derivedSecret(this.c, id, label, caller);
  }
  adaptorSignAll(id: string, items: Array<{ point: Buffer; digest: Buffer }>, caller: string, contract?: ContractSigning): Promise<Buffer[]> {
    return signing.adaptorSignAll(this.c, id, items, caller, contract);
  }
  signPsbt(base64: string, caller: string, contract?: ContractSigning): Promise<psbtSigning.PsbtSigned> {
    return psbtSigning.signPsbt(this.c, base64, caller, contract);
  }

  setPolicy(subject: string, next: Policy | null, caller: string): Promise<{ policy: Policy | null; pending: PendingPolicy | null }> {
    return policyChanges.setPolicy(this.c, subject, next, caller);
  }
  cancelPolicy(subject: string, caller: string): Promise<PendingPolicy> {
    return policyChanges.cancelPolicy(this.c, subject, caller);
  }

  unlock(passphrase: string, timeoutSec: number, caller: string): Promise<void> {
    return lifecycle.unlock(this.c, passphrase, timeoutSec, caller);
  }
  lock(caller: string): Promise<void> {
    return lifecycle.lock(this.c, caller);
  }
  createKeystore(passphrase: string, caller: string): Promise<string> {
    return lifecycle.createKeystore(this.c, passphrase, caller);
  }
  restoreKeystore(mnemonic: string, passphrase: string, caller: string): Promise<void> {
    return lifecycle.restoreKeystore(this.c, mnemonic, passphrase, caller);
  }

  nodeKeyRefusal(): string | undefined {
    return nodeKeys.nodeKeyRefusal(this.c);
  }
  nodeKey(): Promise<NodeKey> {
    return nodeKeys.nodeKey(this.c);
  }

  sealSecret(purpose: string, plaintext: Buffer): Promise<string> {
    return sealing.sealSecret(this.c, purpose, plaintext);
  }
  openSecret(purpose: string, sealed: string): Promise<Buffer> {
    return sealing.openSecret(this.c, purpose, sealed);
  }
}
