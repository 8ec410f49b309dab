// A node id given by a caller is checked as a point of the curve before any backend sees it: the schema checks its
// form only, and LDK aborts its wasm on a key that is no point (one 02/03-prefixed string in two is none).

import { secp256k1 } from '@noble/curves/secp256k1.js';
import { rpcError } from '../../core/errors.js';

/** Throws InvalidParams naming `field` when `id` (33-byte compressed key, hex) is not a point of secp256k1. */
export function checkNodeId(id: string, field: string): void {
  try {
    secp256k1.Point.fromHex(id);
  } catch {
    throw rpcError('InvalidParams', `${field}: ${id} is not a node id (not a point of secp256k1)`);
  }
}
