// sc.* methods: the state channels room's service behind anyad's API; messages travel as hex that apps carry.

import { implement, type MethodSpec } from '../../core/methods.js';
import * as D from './declarations.js';
import type { ChannelRecord, ChannelService } from './service.js';

const summary = (r: ChannelRecord) => ({
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
  created: r.created,
  updated: r.updated,
});

export function scMethods(svc: ChannelService): MethodSpec[] {
  return [
    implement(D.scOpen, (p) => svc.openChannel(p)),
    implement(D.scAccept, ({ message, to_self_delay }) => svc.accept(message, to_self_delay)),
    implement(D.scReceive, ({ message, max_pay_sat }) => svc.receive(message, { max_pay_sat })),
    implement(D.scUpdate, ({ id, ...p }) => svc.update(id, p)),
    implement(D.scClose, ({ id }) => svc.closeChannel(id)),
    implement(D.scForceclose, ({ id }) => svc.forceClose(id)),
    implement(D.scCancel, ({ id }) => svc.cancel(id)),
    implement(D.scTowerwatch, ({ hint, blob }) => svc.towerWatch(hint, blob)),
    implement(D.scList, async () => (await svc.list()).map(summary)),
    implement(D.scGet, async ({ id }) => summary(await svc.get(id))),
  ];
}
