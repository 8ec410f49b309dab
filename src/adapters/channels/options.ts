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
    {
      key: 'sc.toselfdelay',
      type: 'int',
      default: 144,
      min: 1,
      max: 65535,
      unit: 'blocks',
      description:
        "The to_self_delay this anyad requires of the counterparty when it accepts a channel (sc.accept's default): blocks the counterparty waits for its own balance after broadcasting its commitment, which is the window to punish a revoked state of theirs (BOLT 2). sc.open names its own.",
    },
    {
      key: 'sc.mintoselfdelay',
      type: 'int',
      default: 144,
      min: 1,
      max: 65535,
      unit: 'blocks',
      description:
        'The least to_self_delay this anyad requires of a counterparty: an sc.open or sc.accept asking for less is refused (a shorter window to punish a revoked state is a bet on being online).',
    },
    {
      key: 'sc.maxtoselfdelay',
      type: 'int',
      default: 2016,
      min: 1,
      max: 65535,
      unit: 'blocks',
      description:
        'The most to_self_delay this anyad lets a counterparty require of it: an open or accept message asking for more is refused (BOLT 2: a node may refuse an unreasonably large to_self_delay, which locks its funds that long).',
    },
    {
      key: 'sc.autopaymaxsat',
      type: 'int',
      default: 0,
      min: 0,
      max: 2_100_000_000_000_000,
      unit: 'sat',
      description:
        "The most this anyad's balance may go down in one state proposed by the counterparty without an approval in the sc.receive call (its max_pay_sat). 0: every payment out of a channel is this side's own sc.update or approved call by call.",
    },
  ],
};
