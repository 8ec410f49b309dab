// Chooses and creates the key provider from the config, with the rules of the network: on mainnet no simulator,
// the audit log on, and no fallback (a second provider would be a silent downgrade). Elsewhere the providers are
// tried in the configured order and a fallback is logged loudly.

import { access } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { Config } from '../core/config.js';
import type { KeyProvider } from './provider.js';
import { readSecret } from './secrets.js';

export class HsmConfigError extends Error {
  override name = 'HsmConfigError';
}

/** Validates the HSM config for the network; answers the provider kinds in order (empty: the room is off). */
export function checkHsmConfig(config: Config): string[] {
  const kinds = config.list('hsm.provider');
  if (config.network === 'main') {
    if (kinds.includes('simulator')) throw new HsmConfigError('hsm.provider=simulator is refused on mainnet: its keys come from a public seed');
    if (kinds.length > 1) throw new HsmConfigError('hsm.provider: only one provider on mainnet (a fallback would be a silent downgrade)');
    if (kinds.length > 0 && !config.bool('hsm.audit')) throw new HsmConfigError('hsm.audit=0 is refused on mainnet');
    if (kinds.length > 0 && config.int('hsm.policydelay') === 0)
      throw new HsmConfigError('hsm.policydelay=0 is refused on mainnet: a loosened policy must wait so it can be seen and cancelled');
  }
  return kinds;
}

/**
 * The provider of a kind, its module loaded only when configured (the PKCS#11 binding, the keystore's HD-key code and
 * its adaptor worker): in the bundle each stays a chunk of its own, which the keystore's worker thread runs.
 */
export async function createProvider(kind: string, config: Config, onLock: () => void): Promise<KeyProvider> {
  switch (kind) {
    case 'pkcs11': {
      const { Pkcs11Provider } = await import('./pkcs11.js');
      const pinRef = config.str('hsm.pinfile');
      return new Pkcs11Provider({
        module: config.path('hsm.module')!,
        tokenLabel: config.str('hsm.tokenlabel')!,
        pin: async () => {
          if (!pinRef) throw new HsmConfigError('hsm.provider=pkcs11 needs hsm.pinfile (a file or a systemd credential name)');
          return readSecret(pinRef, 'hsm.pinfile');
        },
      });
    }
    case 'software': {
      const { SoftwareProvider } = await import('./software.js');
      const ref = config.str('hsm.passphrasefile');
      return new SoftwareProvider({
        file: config.path('hsm.keystore')!,
        logN: config.int('hsm.kdfcost'),
        onLock,
        network: config.network === 'main' ? 'main' : 'test',
        passphrase: async () => (ref && (await keystoreExists(config)) ? readSecret(ref, 'hsm.passphrasefile') : undefined),
      });
    }
    default: {
      const { SoftwareProvider } = await import('./software.js');
      return new SoftwareProvider({ network: config.network === 'main' ? 'main' : 'test' });
    }
  }
}

/** A missing keystore with a passphrase file is a first start: the service creates it instead of failing. */
async function keystoreExists(config: Config): Promise<boolean> {
  return access(config.path('hsm.keystore')!).then(
    () => true,
    () => false,
  );
}

/** Initializes the first provider that starts; logs every one that does not. Throws when none does. */
export async function startProvider(kinds: string[], config: Config, log: Logger, onLock: () => void): Promise<KeyProvider> {
  const reasons: string[] = [];
  for (const [i, kind] of kinds.entries()) {
    const p = await createProvider(kind, config, onLock);
    try {
      await p.initialize();
      if (i > 0) log.warn({ provider: kind, failed: reasons }, 'HSM FALLBACK: the preferred provider could not start; using a fallback');
      return p;
    } catch (err) {
      await p.close().catch(() => undefined);
      reasons.push(`${kind}: ${(err as Error).message}`);
    }
  }
  throw new HsmConfigError(reasons.join('; '));
}
