// Configuration keys of the DLC room. Kept apart from the room so anya-cli and the docs read them without loading it.

import type { OptionGroup } from '../../core/options.js';

export const DLC_OPTIONS: OptionGroup = {
  title: 'DLC (Discreet Log Contracts)',
  options: [
    {
      key: 'dlc.enable',
      type: 'bool',
      default: true,
      description:
        'Offer the dlc.* methods when the bitcoin and HSM rooms are on (DLC keys need the software keystore: a PKCS#11 token cannot make adaptor signatures).',
    },
    {
      key: 'dlc.autorefund',
      type: 'bool',
      default: true,
      description: "Broadcast a contract's refund transaction by itself once its refund locktime has passed with the contract still open.",
    },
  ],
};
