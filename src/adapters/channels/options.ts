// Configuration keys of the state channels room. Kept apart from the room so anya-cli and the docs read them
// without loading it.

import type { OptionGroup } from '../../core/options.js';

export const SC_OPTIONS: OptionGroup = {
  title: 'State channels',
  options: [
    {
      key: 'sc.enable',
      type: 'bool',
      default: true,
      description:
        'Offer the sc.* methods when the bitcoin and HSM rooms are on (channel keys need the software keystore: a PKCS#11 token cannot sign with BOLT 3 tweaked keys). anyad watches every channel it is party to and punishes a revoked state by itself.',
    },
    {
      key: 'sc.justice',
      type: 'bool',
      default: false,
      description:
        "Make, at every update, the penalty for the counterparty's state just revoked, encrypted for a watchtower: sc.receive answers it as justice {hint, blob}, for an app to give to another anyad's sc.towerwatch (one more keystore signature per update).",
    },
  ],
};
