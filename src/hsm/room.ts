// The HSM room: key custody behind one provider, with policy and audit. Off unless hsm.provider is set.

import { HSM_METHODS } from './declarations.js';
import { hkdfSync, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../core/config.js';
import type { Room } from '../core/room.js';
import { rpcError } from '../core/errors.js';
import { bitcoinNetwork } from '../core/bitcoin-network.js';
import { HSM_OPTIONS } from './options.js';
import { HSM_POLICY } from './topics.js';
import type { HsmApi } from './api.js';

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

const LN_SEED_REFUSAL =
  'a PKCS#11 token holds single keys, not a seed: the embedded Lightning node (ln backend ldk) derives its keys from a seed and needs the software keystore';
const WALLET_REFUSAL = 'a PKCS#11 token holds single keys, not a seed to derive wallet accounts from: the wallet needs the software keystore';

export const hsmRoom: Room = {
  name: 'hsm',
  methods: HSM_METHODS,
  options: HSM_OPTIONS,
  topics: [HSM_POLICY],
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
    const service = new HsmService({
      kinds,
      config,
      db,
      store,
      network,
      log,
      bus,
      settings: { policyDelaySec: config.int('hsm.policydelay'), changeGroup: config.str('hsm.changegroup') || undefined },
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
      walletRefusal: () => {
        const p = service.provider;
        const can = p ? p.capabilities.hdAccount !== undefined : kinds.some((k) => k !== 'pkcs11');
        return can ? undefined : WALLET_REFUSAL;
      },
      walletAccount: async (type) => {
        const hd = service.provider?.capabilities.hdAccount;
        if (!hd) throw rpcError('Unsupported', WALLET_REFUSAL);
        try {
          return { type, fingerprint: hd.fingerprint(), ...hd.walletAccount(type) };
        } catch (err) {
          throw (await import('./context.js')).providerError(err);
        }
      },
      nodeKeyRefusal: () => service.nodeKeyRefusal(),
      nodeKey: () => service.nodeKey(),
      lightningSeedRefusal: () => {
        const p = service.provider;
        const can = p ? p.capabilities.sealing === 'seed' : kinds.some((k) => k !== 'pkcs11');
        return can ? undefined : LN_SEED_REFUSAL;
      },
      lightningSeed: async () => {
        const p = service.provider;
        if (!p || p.capabilities.sealing !== 'seed' || !p.sealingKey) throw rpcError('Unsupported', LN_SEED_REFUSAL);
        try {
          // From the key the keystore derives from its seed for secrets at rest, under another label: one-way, so
          // the Lightning seed (held in LDK's memory) says nothing of the sealing key or the seed.
          return Buffer.from(hkdfSync('sha256', p.sealingKey(), Buffer.alloc(0), 'anyad ldk seed v1', 32));
        } catch (err) {
          throw (await import('./context.js')).providerError(err);
        }
      },
    };
    return { service, methods: hsmMethods(service, network, config.int('hsm.unlocktimeout')), api };
  },
};
