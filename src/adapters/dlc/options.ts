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
    {
      key: 'dlc.maxfeerate',
      type: 'int',
      default: 6250,
      min: 1,
      max: 1_000_000,
      unit: 'sat/vB',
      description:
        "The highest fee rate an offer may name (dlc.accept refuses more; rust-dlc's bound is 25 × 250 sat/vB). The fees come out of both parties' inputs.",
    },
    {
      key: 'dlc.minrefunddelay',
      type: 'int',
      default: 604_800,
      min: 0,
      max: 315_360_000,
      unit: 'seconds',
      description:
        'How long after the CET locktime the refund locktime must be, at least (a week by default, as rust-dlc; with block-height locktimes, 600 s a block). A refund usable right after the CETs is a free option for whoever the outcome makes lose.',
    },
    {
      key: 'dlc.maxrefunddelay',
      type: 'int',
      default: 31_536_000,
      min: 0,
      max: 315_360_000,
      unit: 'seconds',
      description:
        'How long after the CET locktime the refund locktime may be, at most (0: no bound): the collateral is held that long when the oracle never attests.',
    },
    {
      key: 'dlc.maxoutcomes',
      type: 'int',
      default: 1 << 20,
      min: 2,
      max: 1 << 20,
      description:
        "The most outcomes a contract may have: an enumerated event's outcomes, or the base^digits values of a numeric event (each one evaluated on the payout curve). Refused as the offer is read.",
    },
    {
      key: 'dlc.maxcets',
      type: 'int',
      default: 2500,
      min: 1,
      max: 100_000,
      description:
        'The most CETs times oracle combinations a contract may have (the adaptor signatures each party makes and checks, about 15 ms each here). Refused as the offer is read. The default is about what one accept_dlc or sign_dlc carries under the RPC message limit (2,700 signatures).',
    },
    {
      key: 'dlc.maxpayoutpoints',
      type: 'int',
      default: 16,
      min: 1,
      max: 10_000,
      description:
        "The most interpolation points of one polynomial piece of a numeric contract's payout curve (its evaluation costs their square at every outcome), and the most rounding intervals. Refused as the offer is read.",
    },
    {
      key: 'dlc.maxoracles',
      type: 'int',
      default: 10,
      min: 1,
      max: 20,
      description: 'The most oracles one contract may name. Refused as the offer is read.',
    },
    {
      key: 'dlc.maxoraclecombinations',
      type: 'int',
      default: 252,
      min: 1,
      max: 184_756,
      description:
        'The most combinations of threshold oracles out of those named (C(oracles, threshold): one adaptor signature per CET for each). Refused as the offer is read.',
    },
    {
      key: 'dlc.workertimeout',
      type: 'int',
      default: 120,
      min: 1,
      max: 3600,
      unit: 'seconds',
      description:
        "Time budget of one contract's heavy work in a worker thread (payout curve, CETs, adaptor points, checking the counterparty's adaptor signatures); past it the work is stopped and the message refused.",
    },
    {
      key: 'dlc.workers',
      type: 'int',
      default: 2,
      min: 1,
      max: 16,
      description: "Worker threads for contracts' heavy work (the RPC server answers meanwhile); more contracts wait their turn.",
    },
  ],
};
