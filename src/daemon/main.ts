#!/usr/bin/env node
// anyad: the daemon with every room this build has.
import { main } from './run.js';
import { ROOMS } from './rooms.js';

main(ROOMS);
