// The rooms this build of anyad composes, in the order their options appear in -help. Each later subsystem
// (lightning) adds its room here. Order matters: a room may use() the ones before it.

import { bitcoinRoom } from '../adapters/bitcoin/room.js';
import { channelsRoom } from '../adapters/channels/room.js';
import { dlcRoom } from '../adapters/dlc/room.js';
import { layer2Room } from '../adapters/layer2/room.js';
import { lightningRoom } from '../adapters/lightning/room.js';
import { rgbRoom } from '../adapters/rgb/room.js';
import type { Room } from '../core/room.js';
import { hsmRoom } from '../hsm/room.js';
import { mlRoom } from '../ml/room.js';
import { p2pRoom } from '../p2p/room.js';
import { walletRoom } from '../wallet/room.js';

export const ROOMS: readonly Room[] = [bitcoinRoom, hsmRoom, p2pRoom, mlRoom, walletRoom, layer2Room, lightningRoom, rgbRoom, dlcRoom, channelsRoom];
