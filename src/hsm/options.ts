// Configuration keys of the HSM room. Secrets (PIN, passphrase) are never values here: only where to read them.

import type { OptionGroup } from '../core/options.js';

export const HSM_PROVIDERS = ['pkcs11', 'software', 'simulator'] as const;

export const HSM_OPTIONS: OptionGroup = {
  title: 'HSM (key custody)',
  options: [
    {
      key: 'embeddedkeystore',
      type: 'bool',
      default: true,
      description:
        'On regtest only, with no hsm.provider set: a software keystore with a random passphrase kept in <datadir>/regtest/keystore.passphrase (0600). For regtest funds only. -noembeddedkeystore turns it off.',
    },
    {
      key: 'hsm.provider',
      type: 'list',
      description:
        'Key provider: pkcs11, software or simulator (regtest/tests only; refused on mainnet). Repeat the key for a fallback order, used in turn when one cannot start; on mainnet only one is allowed (no silent downgrade). None: the HSM room is off.',
      check: (v) => ((HSM_PROVIDERS as readonly string[]).includes(v) ? undefined : `must be one of ${HSM_PROVIDERS.join(', ')}`),
    },
    {
      key: 'hsm.module',
      type: 'path',
      default: '/usr/lib/softhsm/libsofthsm2.so',
      description:
        'PKCS#11 module: SoftHSM2 as default; YubiHSM 2: /usr/lib/x86_64-linux-gnu/pkcs11/yubihsm_pkcs11.so; TPM: /usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so (P-256 only).',
    },
    { key: 'hsm.tokenlabel', type: 'string', default: 'anya', description: 'Label of the PKCS#11 token (tokens are found by label, never by slot number).' },
    {
      key: 'hsm.pinfile',
      type: 'string',
      description: "File holding the token's user PIN, or the name of a systemd credential (LoadCredential=) when it has no slash.",
    },
    {
      key: 'hsm.keystore',
      type: 'path',
      default: 'keystore.json',
      description: "The software provider's encrypted keystore file (relative to the network directory).",
    },
    {
      key: 'hsm.passphrasefile',
      type: 'string',
      description: 'File holding the keystore passphrase, or a systemd credential name; without it the keystore starts locked (hsm.unlock).',
    },
    {
      key: 'hsm.unlocktimeout',
      type: 'int',
      default: 300,
      min: 0,
      max: 86400 * 30,
      unit: 'seconds',
      description: 'Default time hsm.unlock keeps the keystore open; 0 keeps it open.',
    },
    {
      key: 'hsm.kdfcost',
      type: 'int',
      default: 15,
      min: 12,
      max: 20,
      description: "log2 of scrypt's N for new keystore writes (15: about 32 MiB and 0.1 s here).",
    },
    {
      key: 'hsm.policydelay',
      type: 'int',
      default: 86400,
      min: 0,
      max: 86400 * 30,
      unit: 'seconds',
      description:
        'How long a change that loosens a signing policy (higher limits, new allowlist entries, raw signing, removal) waits before it takes effect; it is announced (hsm.policy event, audit log) and can be cancelled meanwhile. Tightening applies at once. 0 only off mainnet.',
    },
    {
      key: 'hsm.changegroup',
      type: 'string',
      description:
        "A key group whose keys count as change for every signing key. Without it, change is only an output to a key of the signing key's own group (or the key itself when it has no group).",
      check: (v) => (/^[A-Za-z0-9_.-]{1,64}$/.test(v) ? undefined : 'must be a key group name (letters, digits, _ . -)'),
    },
    { key: 'hsm.audit', type: 'bool', default: true, description: 'Keep the hash-chained audit log of key events. Required on mainnet.' },
  ],
};
