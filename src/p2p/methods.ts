// peer.* handlers: the declarations bound to the service.

import { secp256k1 } from '@noble/curves/secp256k1.js';
import { rpcError } from '../core/errors.js';
import { implement, type MethodSpec } from '../core/methods.js';
import { parsePeerAddress } from './address.js';
import * as D from './declarations.js';
import type { P2pService } from './service.js';

/** The key lower-cased, once it is known to be a point of the curve (a string of the right shape may not be). */
function checkedPubkey(pubkey: string): string {
  const k = pubkey.toLowerCase();
  try {
    secp256k1.Point.fromHex(k);
  } catch {
    throw rpcError('InvalidParams', `${k} is not a point of secp256k1: not a node key`);
  }
  return k;
}

export function p2pMethods(svc: P2pService): MethodSpec[] {
  return [
    implement(D.peerGetinfo, () => {
      const h = svc.health();
      return { ...svc.info(), health: { state: h.state, detail: h.detail } };
    }),
    implement(D.peerConnect, async ({ address }) => {
      const a = parsePeerAddress(address.trim());
      if (typeof a === 'string') throw rpcError('InvalidParams', `address: ${a}`);
      return svc.connect(checkedPubkey(a.pubkey), a.host, a.port);
    }),
    implement(D.peerList, () => svc.list()),
    implement(D.peerDisconnect, ({ pubkey }) => svc.disconnect(pubkey.toLowerCase())),
    implement(D.peerSendcustommsg, ({ pubkey, type, payload }) => {
      // Core Lightning's rule: odd types only, and none that anyad speaks itself.
      if (type % 2 === 0) throw rpcError('InvalidParams', `type ${type} is even: a peer that does not know it would disconnect (BOLT 1); use an odd type`);
      if (svc.typeInUse(type)) throw rpcError('InvalidParams', `type ${type} is one anyad speaks itself (BOLT 1, the delivery envelope, or a room's)`);
      const to = checkedPubkey(pubkey);
      if (to === svc.nodeId()) throw rpcError('InvalidParams', `${to} is this node's own key`);
      return svc.delivery.deliver(to, type, Buffer.from(payload, 'hex'));
    }),
    implement(D.peerListcustommsgs, ({ since, limit }) => svc.inbox.list(since ?? 0, limit ?? 100)),
  ];
}
