// The rooms this build of anyad composes, in the order their options appear in -help. Each later subsystem
// (lightning, ml) adds its room here.

import { bitcoinRoom } from '../adapters/bitcoin/room.js';
import type { Room } from '../core/room.js';
import { hsmRoom } from '../hsm/room.js';

export const ROOMS: readonly Room[] = [bitcoinRoom, hsmRoom];
