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
      key: 'dlc.oracle',
      type: 'list',
      description:
        "An oracle's HTTP API (the P2PD oracle API: <url>/oracle/publickey, /asset/<asset>/announcement|attestation/<time>, as Crypto Garage's oracle serves it). dlc.fetchannouncement reads announcements there; with dlc.autoclose, attestations are fetched from the oracle whose key a contract names.",
    },
    {
      key: 'dlc.autoclose',
      type: 'bool',
      default: true,
      description:
        "Once a funded contract's event has matured, fetch the attestation from its oracle (dlc.oracle) at each block and complete and broadcast the attested outcome's CET.",
    },
    {
      key: 'dlc.autorefund',
      type: 'bool',
      default: true,
      description: "Broadcast a contract's refund transaction by itself once its refund locktime has passed with the contract still open.",
    },
  ],
};
