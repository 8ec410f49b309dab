// The rooms this build of anyad composes, in the order their options appear in -help. Each later subsystem
// (bitcoin, lightning, hsm, ml) adds its room here.

import type { Room } from '../core/room.js';

export const ROOMS: readonly Room[] = [];
