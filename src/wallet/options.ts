// Configuration keys of the wallet room.

import type { OptionGroup } from '../core/options.js';

export const WALLET_OPTIONS: OptionGroup = {
  title: 'Wallet (the coins of the HSM keystore)',
  options: [
    {
      key: 'wallet.enable',
      type: 'bool',
      default: true,
      description: "Keep a wallet over the software keystore's seed (BIP84 and BIP86 accounts) when the HSM room and the bitcoin room are on.",
    },
    {
      key: 'wallet.gaplimit',
      type: 'int',
      default: 20,
      min: 1,
      max: 10000,
      description:
        'Addresses derived ahead of the last one used, on each chain (receive, change) of each account: what a payment may skip and still be found (BIP44 discovery, Core keypool).',
    },
    {
      key: 'wallet.maxtxfee',
      type: 'int',
      default: 10_000_000,
      min: 1000,
      max: 2_100_000_000_000_000,
      unit: 'sat',
      description:
        "The largest fee a transaction the wallet funds may pay (Bitcoin Core's -maxtxfee, 0.1 BTC by default): a larger one is refused, naming both.",
    },
    {
      key: 'wallet.fallbackfee',
      type: 'int',
      default: 0,
      min: 0,
      max: 100_000,
      unit: 'sat/vB',
      description: "The fee rate used when the node has no estimate and the call names none (Core's -fallbackfee); 0 refuses instead of guessing.",
    },
    {
      key: 'wallet.reservetime',
      type: 'int',
      default: 600,
      min: 1,
      max: 31_536_000,
      unit: 'seconds',
      description:
        'How long the coins of a funded PSBT stay promised to it (wallet.fundpsbt) unless the call names another time; wallet.release gives them back sooner.',
    },
    {
      key: 'wallet.eventlog',
      type: 'int',
      default: 10_000,
      min: 10,
      max: 1_000_000,
      unit: 'events',
      description:
        'How many of the newest wallet.tx events are kept for wallet.listevents (a subscriber catching up after a disconnection or a restart); a since older than the log is refused, naming the oldest kept.',
    },
  ],
};
