// Every room's option group, from the rooms' options modules only: anya-cli and -help read these without loading
// any room (the rooms pull in gRPC, onnxruntime, PKCS#11 and the rest). test/daemon/config.test.ts checks that this list is
// what the rooms themselves declare, in the same order.

import type { OptionGroup } from '../core/options.js';
import { BITCOIN_OPTIONS } from '../adapters/bitcoin/options.js';
import { LIGHTNING_OPTIONS } from '../adapters/lightning/options.js';
import { RGB_OPTIONS } from '../adapters/rgb/options.js';
import { SC_OPTIONS } from '../adapters/channels/options.js';
import { DLC_OPTIONS } from '../adapters/dlc/options.js';
import { HSM_OPTIONS } from '../hsm/options.js';
import { ML_OPTIONS } from '../ml/options.js';
import { P2P_OPTIONS } from '../p2p/options.js';
import { WALLET_OPTIONS } from '../wallet/options.js';

export const ROOM_OPTIONS: readonly OptionGroup[] = [
  BITCOIN_OPTIONS,
  HSM_OPTIONS,
  P2P_OPTIONS,
  ML_OPTIONS,
  WALLET_OPTIONS,
  LIGHTNING_OPTIONS,
  RGB_OPTIONS,
  DLC_OPTIONS,
  SC_OPTIONS,
];
