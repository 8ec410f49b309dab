// sc.* methods: the state channels room's service behind anyad's API; messages travel as hex that apps carry, or by
// themselves over the peer network for a channel with a peer (peering.ts).

import { callerOf, implement, type MethodSpec } from '../../core/methods.js';
import * as D from './declarations.js';
import type { ChannelRecord } from './record.js';
import type { ChannelService } from './service.js';

const summary = (svc: ChannelService, r: ChannelRecord) => ({
  id: r.id,
  role: r.role,
  state: r.state,
  capacity_sat: Number(r.capacity_sat),
  fee_sat: Number(r.fee_sat),
  to_self_delay: r.to_self_delay,
  their_to_self_delay: r.their_to_self_delay ?? r.to_self_delay,
  failure: r.failure ?? null,
  number: r.current.number,
  to_opener_sat: Number(r.current.to_opener_sat),
  to_accepter_sat: Number(r.current.to_accepter_sat),
  app_hash: r.current.app_hash,
  pending: r.pending ? r.pending.state.number : null,
  funding_txid: r.funding_txid,
  funding_vout: r.funding_vout,
  closing_txid: r.closing_txid,
  closed_by: r.closed_by,
  their_revoked: r.their_revoked,
  claim_txid: r.claim?.txid ?? null,
  keys: r.keys,
  payout: svc.payoutView(r),
  created: r.created,
  peer: r.peer ?? null,
  updated: r.updated,
});

export function scMethods(svc: ChannelService): MethodSpec[] {
  return [
    implement(D.scOpen, (p, ctx) => svc.openChannel(p, callerOf(ctx))),
    implement(D.scAccept, ({ message, id, to_self_delay }, ctx) =>
      svc.accept({ ...(message !== undefined ? { message } : {}), ...(id !== undefined ? { id } : {}) }, to_self_delay, callerOf(ctx)),
    ),
    implement(D.scReceive, ({ message, max_pay_sat }, ctx) => svc.receive(message, { max_pay_sat }, callerOf(ctx))),
    implement(D.scUpdate, ({ id, ...p }, ctx) => svc.update(id, p, callerOf(ctx))),
    implement(D.scClose, ({ id }, ctx) => svc.closeChannel(id, callerOf(ctx))),
    implement(D.scForceclose, ({ id }, ctx) => svc.forceClose(id, callerOf(ctx))),
    implement(D.scCancel, ({ id }) => svc.cancel(id)),
    implement(D.scTowerwatch, ({ hint, blob }) => svc.towerWatch(hint, blob)),
    implement(D.scList, async () => (await svc.list()).map((r) => summary(svc, r))),
    implement(D.scGet, async ({ id }) => summary(svc, await svc.get(id))),
    implement(D.scApprove, ({ id, max_pay_sat }, ctx) => svc.approve(id, max_pay_sat, callerOf(ctx))),
    implement(D.scInbox, () => svc.inbox()),
  ];
}
