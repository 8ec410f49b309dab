// The declarations of methods (name, summary, params and result schemas, role, errors): data that the docs and
// the daemon read without the room's code; the handlers are bound in the room's methods module.

import { declareMethod, NoParams, type MethodDeclaration } from '../core/methods.js';
import { Type } from '@sinclair/typebox';

export const PolicySchema = Type.Object(
  {
    max_amount_sat: Type.Optional(
      Type.Integer({
        minimum: 0,
        description: 'Most sent to others in one transaction.',
      }),
    ),
    velocity_24h_sat: Type.Optional(
      Type.Integer({
        minimum: 0,
        description: 'Most sent to others in any 24 hours.',
      }),
    ),
    allowlist: Type.Optional(
      Type.Array(Type.String({ maxLength: 200 }), {
        maxItems: 1000,
        description: "Addresses others may be paid at; change (keys of the signing key's group) is always allowed.",
      }),
    ),
    max_feerate_sat_vb: Type.Optional(
      Type.Number({
        minimum: 0,
        description: 'Highest fee rate (from verified input amounts only).',
      }),
    ),
    max_fee_sat: Type.Optional(
      Type.Integer({
        minimum: 0,
        description: 'Highest absolute fee (from verified input amounts only).',
      }),
    ),
    change_to_own_keys: Type.Optional(
      Type.Boolean({
        description: "Every output not on the allowlist must be change (a key of the signing key's group).",
      }),
    ),
    allow_raw_sign: Type.Optional(
      Type.Boolean({
        description: 'Let hsm.sign sign raw digests with keys under this policy (default false: a raw digest could be any transaction).',
      }),
    ),
    sighash_types: Type.Optional(
      Type.Array(Type.Integer({ minimum: 0, maximum: 255 }), {
        maxItems: 8,
        description: 'Sighash types allowed besides ALL (and Taproot DEFAULT), e.g. 131 for ALL|ANYONECANPAY.',
      }),
    ),
  },
  { additionalProperties: false },
);

export const KeyId = Type.String({ pattern: '^[0-9a-f]{16}$', description: 'Key id (hsm.listkeys).' });

export const Digest = Type.String({ pattern: '^[0-9a-fA-F]{64}$', description: 'A 32-byte digest, hex.' });

export const SchemeT = Type.Union([Type.Literal('ecdsa'), Type.Literal('schnorr')], {
  default: 'ecdsa',
  description: 'ecdsa (DER, low S) or schnorr (BIP340; software provider only).',
});

export const KeyT = Type.Object({
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
  contract_kind: Type.Optional(Type.String({ description: "A contract's key (made by the DLC or channel room): dlc or channel." })),
});

export const Subject = Type.String({ pattern: '^(key:[0-9a-f]{16}|group:[A-Za-z0-9_.-]{1,64})$', description: 'key:<id> or group:<name>.' });

export const PendingT = Type.Object({
  subject: Type.String(),
  policy: Type.Union([PolicySchema, Type.Null()]),
  requested: Type.String(),
  effective_at: Type.String(),
  caller: Type.String(),
  loosens: Type.Array(Type.String()),
});

export const hsmStatus = declareMethod({
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
});

export const hsmListkeys = declareMethod({
  name: 'hsm.listkeys',
  summary: 'Every key anyad knows, with its state.',
  params: NoParams,
  result: Type.Array(KeyT),
  role: 'readonly',
});

export const hsmGeneratekey = declareMethod({
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
});

export const hsmGetpubkey = declareMethod({
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
});

export const hsmGetxpub = declareMethod({
  name: 'hsm.getxpub',
  summary: "The software keystore's account extended public key (m/0'; xpub on mainnet, tpub elsewhere); every key is a hardened child of it.",
  params: NoParams,
  result: Type.String(),
  errors: ['Locked', 'Unsupported'],
  role: 'readonly',
});

export const hsmSign = declareMethod({
  name: 'hsm.sign',
  summary: 'Sign a 32-byte digest with an active key (refused for a key under a spending policy unless it sets allow_raw_sign).',
  params: Type.Object({ key: KeyId, digest: Digest, scheme: SchemeT }, { additionalProperties: false }),
  result: Type.Object({ signature: Type.String(), scheme: Type.String() }),
  errors: ['PolicyDenied', 'Locked', 'NotFound', 'Unsupported', 'BackendUnavailable'],
  role: 'admin',
});

export const hsmVerify = declareMethod({
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
});

export const hsmSignpsbt = declareMethod({
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
});

export const hsmRotatekey = declareMethod({
  name: 'hsm.rotatekey',
  summary: 'Make a successor key; the old one is retired (verifies; signs only a sweep to its successor) and its policy carried over.',
  params: Type.Object({ key: KeyId }, { additionalProperties: false }),
  result: KeyT,
  errors: ['NotFound', 'Conflict', 'Locked'],
  role: 'admin',
});

export const hsmDisablekey = declareMethod({
  name: 'hsm.disablekey',
  summary: 'Stop a key from signing for good (on a token: CKA_SIGN=false).',
  params: Type.Object({ key: KeyId }, { additionalProperties: false }),
  result: KeyT,
  errors: ['NotFound', 'Locked', 'BackendUnavailable'],
  role: 'admin',
});

export const hsmCreatekeystore = declareMethod({
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
});

export const hsmRestorekeystore = declareMethod({
  name: 'hsm.restorekeystore',
  summary: 'Create the software keystore from recovery words written down before (BIP39), encrypted with the passphrase; never overwrites one.',
  description:
    'For a restore into a fresh datadir: the words are normalised (NFKD, as BIP39 and hsm.createkeystore do) and checked against the BIP39 English list and its checksum before anything is written; errors name positions, never words. The seed is the words without a BIP39 passphrase (as hsm.createkeystore makes it). The keystore is unlocked afterwards; the wallet derives its accounts from it: run wallet.rescan to find its coins. Audited (event restore), without the words.',
  params: Type.Object(
    {
      mnemonic: Type.String({ minLength: 1, maxLength: 1024, description: 'The 12 to 24 recovery words; never logged.' }),
      passphrase: Type.String({ minLength: 8, maxLength: 1024, description: 'Encrypts the keystore; never logged.' }),
    },
    { additionalProperties: false },
  ),
  result: Type.Object({ restored: Type.Boolean() }),
  errors: ['InvalidParams', 'Conflict', 'Unsupported'],
  role: 'admin',
});

export const hsmUnlock = declareMethod({
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
});

export const hsmLock = declareMethod({
  name: 'hsm.lock',
  summary: 'Lock the software keystore now.',
  params: NoParams,
  result: Type.Boolean(),
  role: 'admin',
});

export const hsmSetpolicy = declareMethod({
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
});

export const hsmCancelpolicy = declareMethod({
  name: 'hsm.cancelpolicy',
  summary: 'Withdraw a pending loosening of a signing policy before it takes effect.',
  params: Type.Object({ subject: Subject }, { additionalProperties: false }),
  result: PendingT,
  errors: ['NotFound'],
  role: 'admin',
});

export const hsmGetpolicy = declareMethod({
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
});

export const hsmGetdescriptor = declareMethod({
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
});

export const hsmAudit = declareMethod({
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
});

export const hsmVerifyaudit = declareMethod({
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
});

export const HSM_METHODS: readonly MethodDeclaration[] = [
  hsmStatus,
  hsmListkeys,
  hsmGeneratekey,
  hsmGetpubkey,
  hsmGetxpub,
  hsmSign,
  hsmVerify,
  hsmSignpsbt,
  hsmRotatekey,
  hsmDisablekey,
  hsmCreatekeystore,
  hsmRestorekeystore,
  hsmUnlock,
  hsmLock,
  hsmSetpolicy,
  hsmCancelpolicy,
  hsmGetpolicy,
  hsmGetdescriptor,
  hsmAudit,
  hsmVerifyaudit,
];
