// hsm.* methods. Everything that creates keys, signs or changes policy needs the admin role.

import * as D from './declarations.js';
import type * as bitcoin from 'bitcoinjs-lib';
import { rpcError } from '../core/errors.js';
import { callerOf, implement, type MethodSpec } from '../core/methods.js';
import { keyDescriptors } from './descriptor.js';
import { addressesOf } from './psbt.js';
import type { HsmService, KeyRecord } from './service.js';

const publicView = ({ handle: _h, ...k }: KeyRecord): Omit<KeyRecord, 'handle'> => k;

export function hsmMethods(svc: HsmService, network: bitcoin.Network, defaultUnlockTimeout: number): MethodSpec[] {
  return [
    implement(D.hsmStatus, async () => {
      const s = svc.provider!.status();
      const keys = await svc.keys();
      const count = (st: string): number => keys.filter((k) => k.state === st).length;
      return {
        provider: s.kind,
        ready: s.ready,
        locked: s.locked,
        detail: s.detail,
        curves: s.curves,
        schnorr: s.schnorr,
        info: s.info,
        keys: { active: count('active'), retired: count('retired'), disabled: count('disabled') },
        audit_entries: svc.audit.count(),
      };
    }),
    implement(D.hsmListkeys, async () => (await svc.keys()).map(publicView)),
    implement(D.hsmGeneratekey, async ({ label, curve, group }) => publicView(await svc.generateKey(label, curve, group ?? null))),
    implement(D.hsmGetpubkey, async ({ key }) => {
      const k = await svc.key(key);
      const schnorr = svc.provider!.status().schnorr && k.provider === svc.provider!.kind;
      return {
        id: k.id,
        public_key: k.public_key,
        curve: k.curve,
        state: k.state,
        addresses: k.curve === 'secp256k1' ? addressesOf(Buffer.from(k.public_key, 'hex'), network, schnorr) : {},
      };
    }),
    implement(D.hsmGetxpub, () => {
      const hd = svc.provider?.capabilities.hdAccount;
      if (!hd) throw rpcError('Unsupported', 'only the software and simulator providers have an xpub');
      try {
        return hd.xpub();
      } catch (err) {
        throw rpcError('Locked', (err as Error).message);
      }
    }),
    implement(D.hsmSign, async ({ key, digest, scheme }, ctx) => ({
      signature: (await svc.sign(key, Buffer.from(digest, 'hex'), scheme, callerOf(ctx))).toString('hex'),
      scheme,
    })),
    implement(D.hsmVerify, ({ key, digest, signature, scheme }) => svc.verify(key, Buffer.from(digest, 'hex'), Buffer.from(signature, 'hex'), scheme)),
    implement(D.hsmSignpsbt, ({ psbt }, ctx) => svc.signPsbt(psbt, callerOf(ctx))),
    implement(D.hsmRotatekey, async ({ key }) => publicView(await svc.rotate(key))),
    implement(D.hsmDisablekey, async ({ key }) => publicView(await svc.disable(key))),
    implement(D.hsmCreatekeystore, async ({ passphrase }, ctx) => ({ created: true, mnemonic: await svc.createKeystore(passphrase, callerOf(ctx)) })),
    implement(D.hsmRestorekeystore, async ({ mnemonic, passphrase }, ctx) => {
      await svc.restoreKeystore(mnemonic, passphrase, callerOf(ctx));
      return { restored: true };
    }),
    implement(D.hsmUnlock, async ({ passphrase, timeout }, ctx) => (await svc.unlock(passphrase, timeout ?? defaultUnlockTimeout, callerOf(ctx)), true)),
    implement(D.hsmLock, async (_p, ctx) => (await svc.lock(callerOf(ctx)), true)),
    implement(D.hsmSetpolicy, async ({ subject, policy }, ctx) => {
      if (subject.startsWith('key:')) await svc.key(subject.slice(4));
      return { subject, ...(await svc.setPolicy(subject, policy, callerOf(ctx))) };
    }),
    implement(D.hsmCancelpolicy, ({ subject }, ctx) => svc.cancelPolicy(subject, callerOf(ctx))),
    implement(D.hsmGetpolicy, async ({ subject }) => ({
      subject,
      policy: (await svc.policy.get(subject)) ?? null,
      pending: (await svc.policy.pending(subject)) ?? null,
      spent_24h_sat: await svc.policy.spentSince(subject, Date.now() - 24 * 3600 * 1000),
    })),
    implement(D.hsmGetdescriptor, async ({ key }) => {
      const k = await svc.key(key);
      const p = svc.provider;
      const hd = p?.capabilities.hdAccount;
      if (!hd || k.provider !== p?.kind)
        throw rpcError('Unsupported', 'descriptors with key origin exist for keystore keys only (a token key has no BIP32 path)');
      try {
        return { key, ...keyDescriptors(hd.fingerprint(), hd.keyPath(k.handle), k.public_key) };
      } catch (err) {
        throw rpcError('Locked', (err as Error).message);
      }
    }),
    implement(D.hsmAudit, ({ from, limit }) => svc.audit.page(from, limit)),
    implement(D.hsmVerifyaudit, () => svc.audit.verify()),
  ];
}
