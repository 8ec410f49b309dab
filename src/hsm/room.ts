// The HSM room: key custody behind one provider, with policy and audit. Off unless hsm.provider is set.

import { HSM_METHODS } from './declarations.js';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import type { Logger } from 'pino';
import type { Config } from '../daemon/config.js';
import type { Room } from '../core/room.js';
import { bitcoinNetwork } from '../core/bitcoin-network.js';
import { HSM_OPTIONS } from './options.js';
import { PolicySchema } from './declarations.js';
import type { Veto } from './policy.js';

/** Regtest's embedded keystore: on regtest only, when no hsm.provider is set (and -noembeddedkeystore is not given). */
function wantsEmbeddedKeystore(config: Config): boolean {
  return config.network === 'regtest' && config.list('hsm.provider').length === 0 && config.bool('embeddedkeystore');
}

/**
 * The software keystore with a random passphrase kept in a 0600 file beside it (made once), so `npm start` on
 * regtest has keys without any setup. A passphrase on disk next to the keystore protects nothing: regtest only.
 */
async function embeddedKeystoreConfig(config: Config, log: Logger): Promise<Config> {
  const file = join(config.netdir, 'keystore.passphrase');
  try {
    await writeFile(file, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  log.warn(
    { keystore: config.path('hsm.keystore'), passphrasefile: file },
    'embedded keystore: a software keystore whose passphrase is in a file beside it, for regtest funds only',
  );
  return config.withValues({ 'hsm.provider': ['software'], 'hsm.passphrasefile': file });
}

/**
 * What a contract's signature moves for this side (issue 26 item 8): the signing policy's contract rule reads it
 * (budgets and velocity count spends_sat against the contract key's subjects) and the audit entry names the
 * contract and the counterparty. Rooms that sign for a contract (DLC, state channels) pass it with every signature.
 */
export interface ContractSigning {
  kind: 'dlc' | 'channel';
  /** The contract's or channel's id in its room. */
  contract: string;
  /** Who the contract is with: the counterparty's public key (hex), as the room knows it. */
  counterparty: string;
  /** Why this signature is made: 'funding', 'cet', 'refund', 'close', 'commitment', 'revocation', 'penalty', 'sweep', ... */
  purpose: string;
  /**
   * Satoshis this signature can move away from this side: own collateral put into a funding output, the decrease
   * of own balance in a new state; 0 when the signature only pays this side or keeps its balance.
   */
  spends_sat: number;
}

/** What other rooms may use of the HSM: a veto on signatures, contract keys and signatures, secrets at rest. */
export interface HsmApi {
  addVeto(name: string, veto: Veto): void;
  /**
   * A fresh secp256k1 key for another room's contract (e.g. a DLC's funding key): its id and public key. It is a
   * contract key of `kind` (contract.ts), in the policy group named by the kind ('dlc', 'channel') unless `group`
   * names another; without `kind`, the kind is read from the label prefix this tree's rooms use ('dlc ', 'sc ').
   */
  generateKey(label: string, group: string | null, kind?: ContractSigning['kind']): Promise<{ id: string; public_key: string }>;
  /** ECDSA signature (DER, low S) of a digest, through the same gates and audit as hsm.sign. */
  signDigest(id: string, digest: Buffer, caller: string, contract?: ContractSigning): Promise<Buffer>;
  /** Why this HSM cannot make ECDSA adaptor signatures (a PKCS#11 token), or undefined when it can. */
  adaptorRefusal(): string | undefined;
  /** ECDSA adaptor signatures of digests, each under its encryption point (keystore keys only), one audit entry. */
  adaptorSignAll(id: string, items: Array<{ point: Buffer; digest: Buffer }>, caller: string, contract?: ContractSigning): Promise<Buffer[]>;
  /** Why this HSM cannot hold state channel keys (tweaked signing, derived seeds: a PKCS#11 token), or undefined. */
  channelRefusal(): string | undefined;
  /** ECDSA (DER, low S) with the key as (k·mul + add) mod n: BOLT 3's per-commitment and revocation keys. */
  tweakedSign(id: string, digest: Buffer, tweak: { mul?: Buffer; add?: Buffer }, caller: string, contract?: ContractSigning): Promise<Buffer>;
  /** HMAC-SHA256(key, label): a per-channel seed (BOLT 3 per-commitment secrets) kept derivable from the keystore. */
  derivedSecret(id: string, label: string, caller: string): Promise<Buffer>;
  /** hsm.signpsbt: the inputs the HSM has keys for, after the signing policy allows the spend. */
  signPsbt(base64: string, caller: string, contract?: ContractSigning): Promise<{ psbt: string; signed: number[] }>;
  /**
   * Seals a secret for keeping at rest (in the caller's sublevel): XChaCha20-Poly1305 under a key the HSM holds (the
   * keystore's, derived from its seed; on a token a data key wrapped by an AES key on the token), with `purpose`
   * (printable ASCII, 1..200 characters, e.g. 'channels.seed') bound as associated data. Answers
   * 'anyad-sealed-v1:' + base64url(nonce || ciphertext || tag). Errors: Locked (-32012) while the keystore is
   * locked, InvalidParams (-32602) for a bad purpose, BackendUnavailable (-32010) when the token is out of reach.
   */
  sealSecret(purpose: string, plaintext: Buffer): Promise<string>;
  /**
   * The plaintext of a value sealSecret made for the same purpose in this state. Errors: InvalidParams (-32602)
   * when it was sealed for another purpose, under another keystore or token, or was changed; Locked (-32012)
   * while the keystore is locked; Conflict (-32014) when this token cannot unwrap the state's data key (the state
   * was sealed on another token); BackendUnavailable (-32010) when the token is out of reach.
   */
  openSecret(purpose: string, sealed: string): Promise<Buffer>;
}

export const hsmRoom: Room = {
  name: 'hsm',
  methods: HSM_METHODS,
  options: HSM_OPTIONS,
  topics: [
    {
      name: 'hsm.policy',
      summary: 'A signing policy changed: applied (at once), pending (a loosening waiting for hsm.policydelay), effective (the wait is over) or cancelled.',
      data: Type.Object({
        subject: Type.String(),
        state: Type.String(),
        policy: Type.Union([PolicySchema, Type.Null()], { description: 'The policy this change is about (null: none).' }),
        effective_at: Type.Optional(Type.String()),
        loosens: Type.Optional(Type.Array(Type.String())),
        interim: Type.Optional(Type.Union([PolicySchema, Type.Null()], { description: 'The policy in force while a loosening waits.' })),
      }),
    },
  ],
  // The encrypted keystore goes into every backup. The audit head file does not: it must outlive a restore, so the
  // rollback shows.
  stateFiles: (config) =>
    config.list('hsm.provider').includes('software') || wantsEmbeddedKeystore(config) ? [{ name: 'hsm.keystore', path: config.path('hsm.keystore')! }] : [],
  // A keystore or an audit head beside a missing state folder means the state was lost, not that this is a first start.
  stateEvidence: (config) => [config.path('hsm.keystore')!, join(config.netdir, 'hsm-audit.head')],
  create: async ({ config: given, store, log, bus }) => {
    const config = wantsEmbeddedKeystore(given) ? await embeddedKeystoreConfig(given, log) : given;
    if (config.list('hsm.provider').length === 0) return {};
    // Loaded only when the room is on (the curve, HD-key and PKCS#11 code).
    const [{ checkHsmConfig }, { hsmMethods }, { HsmService }] = await Promise.all([import('./factory.js'), import('./methods.js'), import('./service.js')]);
    const kinds = checkHsmConfig(config);
    const db = await store.room('hsm');
    const network = bitcoinNetwork(config.network);
    const service = new HsmService(kinds, config, db, store, network, log, bus, {
      policyDelaySec: config.int('hsm.policydelay'),
      changeGroup: config.str('hsm.changegroup') || undefined,
    });
    const api: HsmApi = {
      addVeto: (name, veto) => service.addVeto(name, veto),
      generateKey: async (label, group, kind) => {
        const { contractKindOf } = await import('./contract.js');
        const k = await service.generateKey(label, 'secp256k1', group, { contractKind: contractKindOf(kind, label) });
        return { id: k.id, public_key: k.public_key };
      },
      signDigest: (id, digest, caller, contract) => service.sign(id, digest, 'ecdsa', caller, contract),
      adaptorRefusal: () => service.adaptorRefusal(),
      adaptorSignAll: (id, items, caller, contract) => service.adaptorSignAll(id, items, caller, contract),
      signPsbt: (base64, caller, contract) => service.signPsbt(base64, caller, contract),
      channelRefusal: () => service.channelRefusal(),
      tweakedSign: (id, digest, tweak, caller, contract) => service.tweakedSign(id, digest, tweak, caller, contract),
      derivedSecret: (id, label, caller) => service.derivedSecret(id, label, caller),
      sealSecret: (purpose, plaintext) => service.sealSecret(purpose, plaintext),
      openSecret: (purpose, sealed) => service.openSecret(purpose, sealed),
    };
    return { service, methods: hsmMethods(service, network, config.int('hsm.unlocktimeout')), api };
  },
};
