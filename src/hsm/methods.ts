// hsm.* methods. Everything that creates keys, signs or changes policy needs the admin role.

import { Type } from '@sinclair/typebox';
import type * as bitcoin from 'bitcoinjs-lib';
import { rpcError } from '../rpc/errors.js';
import { defineMethod, type MethodSpec } from '../rpc/registry.js';
import { keyDescriptors } from './descriptor.js';
import { PolicySchema } from './policy.js';
import { addressesOf } from './psbt.js';
import type { HsmService, KeyRecord } from './service.js';
import { SoftwareProvider } from './software.js';

const KeyId = Type.String({ pattern: '^[0-9a-f]{16}$', description: 'Key id (hsm.listkeys).' });
const Digest = Type.String({ pattern: '^[0-9a-fA-F]{64}$', description: 'A 32-byte digest, hex.' });
const SchemeT = Type.Union([Type.Literal('ecdsa'), Type.Literal('schnorr')], {
  default: 'ecdsa',
  description: 'ecdsa (DER, low S) or schnorr (BIP340; software provider only).',
});
const KeyT = Type.Object({
  id: Type.String(),
  label: Type.String(),
  group: Type.Union([Type.String(), Type.Null()]),
  provider: Type.String(),
  curve: Type.String(),
  public_key: Type.String(),
  state: Type.String(),
  created: Type.String(),
  successor: Type.Optional(Type.String()),
  predecessor: Type.Optional(Type.String()),
});
const NoParams = Type.Object({}, { additionalProperties: false });
const Subject = Type.String({ pattern: '^(key:[0-9a-f]{16}|group:[A-Za-z0-9_.-]{1,64})$', description: 'key:<id> or group:<name>.' });

const PendingT = Type.Object({
  subject: Type.String(),
  policy: Type.Union([PolicySchema, Type.Null()]),
  requested: Type.String(),
  effective_at: Type.String(),
  caller: Type.String(),
  loosens: Type.Array(Type.String()),
});

const publicView = ({ handle: _h, ...k }: KeyRecord): Omit<KeyRecord, 'handle'> => k;

export function hsmMethods(svc: HsmService, network: bitcoin.Network, defaultUnlockTimeout: number): MethodSpec[] {
  return [
    defineMethod({
      name: 'hsm.status',
      summary: 'The key provider, what it can do (curves, Schnorr), whether it is locked, the keys and the audit head.',
      params: NoParams,
      result: Type.Object({
        provider: Type.String(),
        ready: Type.Boolean(),
        locked: Type.Boolean(),
        detail: Type.String(),
        curves: Type.Array(Type.String()),
        schnorr: Type.Boolean(),
        info: Type.Object(
          {
            token_label: Type.Optional(Type.String()),
            manufacturer: Type.Optional(Type.String()),
            model: Type.Optional(Type.String()),
            serial: Type.Optional(Type.String()),
            mechanisms: Type.Optional(Type.Integer()),
            ecdsa: Type.Optional(Type.Boolean()),
            module: Type.Optional(Type.String()),
            keystore: Type.Optional(Type.String()),
          },
          { additionalProperties: false, description: 'Token or keystore facts; never a secret.' },
        ),
        keys: Type.Object({ active: Type.Integer(), retired: Type.Integer(), disabled: Type.Integer() }),
        audit_entries: Type.Integer(),
      }),
      role: 'readonly',
      handler: async () => {
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
      },
    }),
    defineMethod({
      name: 'hsm.listkeys',
      summary: 'Every key anyad knows, with its state.',
      params: NoParams,
      result: Type.Array(KeyT),
      role: 'readonly',
      handler: async () => (await svc.keys()).map(publicView),
    }),
    defineMethod({
      name: 'hsm.generatekey',
      summary: 'Create a key in the provider (non-extractable on a token).',
      params: Type.Object(
        {
          label: Type.String({ minLength: 1, maxLength: 64, pattern: '^[\\x20-\\x7e]+$', description: 'A name for people.' }),
          curve: Type.Union([Type.Literal('secp256k1'), Type.Literal('p256')], {
            default: 'secp256k1',
            description: 'secp256k1, or p256 where a token has nothing else (TPM).',
          }),
          group: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$', description: 'Key group a policy may name.' })),
        },
        { additionalProperties: false },
      ),
      result: KeyT,
      errors: ['Locked', 'Unsupported', 'BackendUnavailable'],
      role: 'admin',
      handler: async ({ label, curve, group }) => publicView(await svc.generateKey(label, curve, group ?? null)),
    }),
    defineMethod({
      name: 'hsm.getpubkey',
      summary: "A key's public key and the addresses it receives at on anyad's network.",
      params: Type.Object({ key: KeyId }, { additionalProperties: false }),
      result: Type.Object({
        id: Type.String(),
        public_key: Type.String(),
        curve: Type.String(),
        state: Type.String(),
        addresses: Type.Record(Type.String(), Type.String()),
      }),
      role: 'readonly',
      handler: async ({ key }) => {
        const k = await svc.key(key);
        const schnorr = svc.provider!.status().schnorr && k.provider === svc.provider!.kind;
        return {
          id: k.id,
          public_key: k.public_key,
          curve: k.curve,
          state: k.state,
          addresses: k.curve === 'secp256k1' ? addressesOf(Buffer.from(k.public_key, 'hex'), network, schnorr) : {},
        };
      },
    }),
    defineMethod({
      name: 'hsm.getxpub',
      summary: "The software keystore's account extended public key (m/0'; xpub on mainnet, tpub elsewhere); every key is a hardened child of it.",
      params: NoParams,
      result: Type.String(),
      errors: ['Locked', 'Unsupported'],
      role: 'readonly',
      handler: () => {
        const p = svc.provider;
        if (!(p instanceof SoftwareProvider)) throw rpcError('Unsupported', 'only the software and simulator providers have an xpub');
        try {
          return p.xpub();
        } catch (err) {
          throw rpcError('Locked', (err as Error).message);
        }
      },
    }),
    defineMethod({
      name: 'hsm.sign',
      summary: 'Sign a 32-byte digest with an active key (refused for a key under a spending policy unless it sets allow_raw_sign).',
      params: Type.Object({ key: KeyId, digest: Digest, scheme: SchemeT }, { additionalProperties: false }),
      result: Type.Object({ signature: Type.String(), scheme: Type.String() }),
      errors: ['PolicyDenied', 'Locked', 'NotFound', 'Unsupported', 'BackendUnavailable'],
      role: 'admin',
      handler: async ({ key, digest, scheme }, ctx) => ({
        signature: (await svc.sign(key, Buffer.from(digest, 'hex'), scheme, ctx.caller)).toString('hex'),
        scheme,
      }),
    }),
    defineMethod({
      name: 'hsm.verify',
      summary: 'Check a signature against a key (retired and disabled keys still verify).',
      params: Type.Object(
        {
          key: KeyId,
          digest: Digest,
          signature: Type.String({ pattern: '^([0-9a-fA-F]{2}){8,80}$', description: 'DER (ecdsa) or 64 bytes (schnorr), hex.' }),
          scheme: SchemeT,
        },
        { additionalProperties: false },
      ),
      result: Type.Boolean(),
      role: 'readonly',
      handler: ({ key, digest, signature, scheme }) => svc.verify(key, Buffer.from(digest, 'hex'), Buffer.from(signature, 'hex'), scheme),
    }),
    defineMethod({
      name: 'hsm.signpsbt',
      summary: 'Sign the PSBT inputs the HSM has keys for, after the signing policy allows the spend.',
      description:
        "P2WPKH, P2SH-P2WPKH, P2WSH (e.g. multisig), P2PKH and, with the software provider, P2TR key path. Every segwit v0 or legacy input the HSM signs needs its non_witness_utxo (the previous transaction, checked against the txid); Taproot inputs may carry only witness_utxo. Change is an output to a key of the signing key's own group (or hsm.changegroup). Answers the PSBT and the indexes signed; finalize and broadcast it elsewhere (e.g. chain.broadcast).",
      params: Type.Object({ psbt: Type.String({ minLength: 10, maxLength: 4_000_000, description: 'Base64 PSBT.' }) }, { additionalProperties: false }),
      result: Type.Object({
        psbt: Type.String(),
        txid: Type.Union([Type.String(), Type.Null()], {
          description: 'The transaction id once final; null while legacy inputs are still unsigned (their scriptSig is part of it).',
        }),
        signed: Type.Array(Type.Integer()),
        keys: Type.Array(Type.String()),
        amount_sat: Type.Integer(),
        fee_sat: Type.Integer(),
        feerate_sat_vb: Type.Number(),
      }),
      errors: ['PolicyDenied', 'Locked', 'Unsupported', 'BackendUnavailable'],
      role: 'admin',
      handler: ({ psbt }, ctx) => svc.signPsbt(psbt, ctx.caller),
    }),
    defineMethod({
      name: 'hsm.rotatekey',
      summary: 'Make a successor key; the old one is retired (verifies; signs only a sweep to its successor) and its policy carried over.',
      params: Type.Object({ key: KeyId }, { additionalProperties: false }),
      result: KeyT,
      errors: ['NotFound', 'Conflict', 'Locked'],
      role: 'admin',
      handler: async ({ key }) => publicView(await svc.rotate(key)),
    }),
    defineMethod({
      name: 'hsm.disablekey',
      summary: 'Stop a key from signing for good (on a token: CKA_SIGN=false).',
      params: Type.Object({ key: KeyId }, { additionalProperties: false }),
      result: KeyT,
      errors: ['NotFound', 'Locked', 'BackendUnavailable'],
      role: 'admin',
      handler: async ({ key }) => publicView(await svc.disable(key)),
    }),
    defineMethod({
      name: 'hsm.createkeystore',
      summary: 'Create the software keystore with fresh entropy, encrypted with the passphrase; never overwrites one. Answers the recovery words this once.',
      params: Type.Object(
        { passphrase: Type.String({ minLength: 8, maxLength: 1024, description: 'Encrypts the keystore; never logged.' }) },
        { additionalProperties: false },
      ),
      result: Type.Object({
        created: Type.Boolean(),
        mnemonic: Type.String({ description: 'BIP39 recovery words (24); shown only now: write them down.' }),
      }),
      errors: ['Conflict', 'Unsupported'],
      role: 'admin',
      handler: async ({ passphrase }, ctx) => ({ created: true, mnemonic: await svc.createKeystore(passphrase, ctx.caller) }),
    }),
    defineMethod({
      name: 'hsm.unlock',
      summary: 'Unlock the software keystore for a while.',
      params: Type.Object(
        {
          passphrase: Type.String({ minLength: 1, maxLength: 1024, description: 'Never logged.' }),
          timeout: Type.Optional(
            Type.Integer({ minimum: 0, maximum: 86400 * 30, description: 'Seconds until it locks again; 0 keeps it open; default hsm.unlocktimeout.' }),
          ),
        },
        { additionalProperties: false },
      ),
      result: Type.Boolean(),
      errors: ['Locked', 'Unsupported'],
      role: 'admin',
      handler: async ({ passphrase, timeout }, ctx) => (await svc.unlock(passphrase, timeout ?? defaultUnlockTimeout, ctx.caller), true),
    }),
    defineMethod({
      name: 'hsm.lock',
      summary: 'Lock the software keystore now.',
      params: NoParams,
      result: Type.Boolean(),
      role: 'admin',
      handler: async (_p, ctx) => (await svc.lock(ctx.caller), true),
    }),
    defineMethod({
      name: 'hsm.setpolicy',
      summary: 'Set (or with policy null remove) the signing policy of a key or key group; what loosens waits hsm.policydelay.',
      description:
        'Tightening applies at once. A change that loosens anything (a higher or removed limit, new allowlist entries, allow_raw_sign, new sighash types, removal) is pending for hsm.policydelay: meanwhile the strictest of old and new applies, an hsm.policy event and the audit log announce it, and hsm.cancelpolicy withdraws it. A later call replaces a pending one.',
      params: Type.Object({ subject: Subject, policy: Type.Union([PolicySchema, Type.Null()]) }, { additionalProperties: false }),
      result: Type.Object({
        subject: Type.String(),
        policy: Type.Union([PolicySchema, Type.Null()], { description: 'The policy in force now.' }),
        pending: Type.Union([PendingT, Type.Null()]),
      }),
      errors: ['NotFound'],
      role: 'admin',
      handler: async ({ subject, policy }, ctx) => {
        if (subject.startsWith('key:')) await svc.key(subject.slice(4));
        return { subject, ...(await svc.setPolicy(subject, policy, ctx.caller)) };
      },
    }),
    defineMethod({
      name: 'hsm.cancelpolicy',
      summary: 'Withdraw a pending loosening of a signing policy before it takes effect.',
      params: Type.Object({ subject: Subject }, { additionalProperties: false }),
      result: PendingT,
      errors: ['NotFound'],
      role: 'admin',
      handler: ({ subject }, ctx) => svc.cancelPolicy(subject, ctx.caller),
    }),
    defineMethod({
      name: 'hsm.getpolicy',
      summary: 'The signing policy of a key or key group, any pending loosening, and what its velocity counter holds now.',
      params: Type.Object({ subject: Subject }, { additionalProperties: false }),
      result: Type.Object({
        subject: Type.String(),
        policy: Type.Union([PolicySchema, Type.Null()]),
        pending: Type.Union([PendingT, Type.Null()]),
        spent_24h_sat: Type.Integer(),
      }),
      role: 'readonly',
      handler: async ({ subject }) => ({
        subject,
        policy: (await svc.policy.get(subject)) ?? null,
        pending: (await svc.policy.pending(subject)) ?? null,
        spent_24h_sat: await svc.policy.spentSince(subject, Date.now() - 24 * 3600 * 1000),
      }),
    }),
    defineMethod({
      name: 'hsm.getdescriptor',
      summary: "Watch-only output descriptors of a keystore key: wpkh() and tr() with key origin and Bitcoin Core's checksum.",
      params: Type.Object({ key: KeyId }, { additionalProperties: false }),
      result: Type.Object({
        key: Type.String(),
        wpkh: Type.String({ description: 'P2WPKH, e.g. for importdescriptors.' }),
        tr: Type.String({ description: 'P2TR key path (BIP86, no script tree).' }),
      }),
      errors: ['NotFound', 'Locked', 'Unsupported'],
      role: 'readonly',
      handler: async ({ key }) => {
        const k = await svc.key(key);
        const p = svc.provider;
        if (!(p instanceof SoftwareProvider) || k.provider !== p.kind)
          throw rpcError('Unsupported', 'descriptors with key origin exist for keystore keys only (a token key has no BIP32 path)');
        try {
          return { key, ...keyDescriptors(p.fingerprint(), SoftwareProvider.path(k.handle), k.public_key) };
        } catch (err) {
          throw rpcError('Locked', (err as Error).message);
        }
      },
    }),
    defineMethod({
      name: 'hsm.audit',
      summary: 'Audit log entries, oldest first, from a sequence number.',
      params: Type.Object(
        {
          from: Type.Integer({ minimum: 1, default: 1, description: 'First sequence number.' }),
          limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100, description: 'Most entries.' }),
        },
        { additionalProperties: false },
      ),
      result: Type.Array(
        Type.Object({
          seq: Type.Integer(),
          time: Type.String(),
          event: Type.String(),
          key: Type.Union([Type.String(), Type.Null()]),
          detail: Type.Record(Type.String(), Type.Unknown()),
          prev: Type.String(),
          hash: Type.String(),
          mac: Type.Optional(Type.Union([Type.String(), Type.Null()])),
        }),
      ),
      role: 'readonly',
      handler: ({ from, limit }) => svc.audit.page(from, limit),
    }),
    defineMethod({
      name: 'hsm.verifyaudit',
      summary: "Walk the audit log's hash chain and MACs; names the first changed, removed or reordered entry, and every rollback found at a start.",
      params: NoParams,
      result: Type.Object({
        ok: Type.Boolean(),
        entries: Type.Integer(),
        keyed: Type.Integer(),
        unkeyed_tail: Type.Integer(),
        macs_checked: Type.Boolean(),
        rollbacks: Type.Array(Type.Object({ seq: Type.Integer(), from_seq: Type.Integer(), to_seq: Type.Integer(), reason: Type.String() })),
        problem: Type.Optional(Type.Object({ seq: Type.Integer(), reason: Type.String() })),
      }),
      role: 'readonly',
      handler: () => svc.audit.verify(),
    }),
  ];
}
