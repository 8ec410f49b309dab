// The state channels room as a Layer2 adapter (protocol "statechannel", backend "anyad"): the same operations as
// the sc.* methods through l2.submit, l2.status and l2.history, so an app that speaks l2.* reaches channels the way
// it reaches Lightning. The schemas are the sc.* declarations' own; the work is the service's, audited in the HSM
// under the l2.submit caller (callerOf).

import type { Static, TSchema } from '@sinclair/typebox';
import { Type } from '@sinclair/typebox';
import { rpcError } from '../../core/errors.js';
import { operationCapabilities, recordViews, type Layer2Adapter, type OperationRecord } from '../layer2/api.js';
import * as D from './declarations.js';
import { COMMITMENT_VBYTES, MIN_FEE_RATE } from './transactions.js';
import type { ChannelRecord } from './record.js';
import type { ChannelService } from './service.js';

const record = (r: ChannelRecord): OperationRecord => ({
  id: r.id,
  operation: 'channel',
  status: r.state,
  created_at: Math.floor(Date.parse(r.created) / 1000),
  detail: {
    role: r.role,
    number: r.current.number,
    to_opener_sat: Number(r.current.to_opener_sat),
    to_accepter_sat: Number(r.current.to_accepter_sat),
    app_hash: r.current.app_hash,
    funding_txid: r.funding_txid,
    closing_txid: r.closing_txid,
    closed_by: r.closed_by,
  },
});

const OPERATIONS = {
  open: D.scOpen.params,
  accept: D.scAccept.params,
  receive: D.scReceive.params,
  update: D.scUpdate.params,
  close: D.scClose.params,
  forceclose: D.scForceclose.params,
  cancel: D.scCancel.params,
} satisfies Record<string, TSchema>;

export function channelsL2Adapter(svc: ChannelService): Layer2Adapter {
  const { after, status, history } = recordViews(
    () => svc.list(),
    (id) => svc.get(id),
    record,
  );
  return {
    name: 'statechannel-l2',
    protocol: 'statechannel',
    backend: 'anyad',
    topics: ['sc.channel', 'sc.tower'],
    operations: OPERATIONS,
    estimates: { open: Type.Object({ fee_rate_sat_vb: Type.Integer({ minimum: MIN_FEE_RATE, maximum: 10_000, default: 2 }) }) },
    capabilities: () => [...operationCapabilities('channel', OPERATIONS), 'events.channel', 'tower'],
    open: async () => undefined,
    close: async () => undefined,
    health: () => svc.health(),
    summary: async () => {
      const all = await svc.list();
      return { channels: all.length, open: all.filter((r) => r.state === 'open').length };
    },
    async submit(operation, params, caller) {
      switch (operation) {
        case 'open': {
          const r = await svc.openChannel(params as Static<typeof D.scOpen.params>, caller);
          return after(r.id, r);
        }
        case 'accept': {
          const { message, to_self_delay } = params as Static<typeof D.scAccept.params>;
          const r = await svc.accept({ message }, to_self_delay, caller);
          return after(r.id, r);
        }
        case 'receive': {
          const { message, max_pay_sat } = params as Static<typeof D.scReceive.params>;
          const r = await svc.receive(message, { max_pay_sat }, caller);
          return after(r.id, r);
        }
        case 'update': {
          const { id, ...p } = params as Static<typeof D.scUpdate.params>;
          return after(id, await svc.update(id, p, caller));
        }
        case 'close':
          return after(String(params.id), await svc.closeChannel(String(params.id), caller));
        case 'forceclose':
          return after(String(params.id), await svc.forceClose(String(params.id), caller));
        case 'cancel':
          return after(String(params.id), await svc.cancel(String(params.id)));
        default:
          throw rpcError('InvalidParams', `statechannel cannot '${operation}'`);
      }
    },
    status,
    history,
    async estimateFee(_operation, params) {
      // The opener pays the commitment fee out of its balance, and the closing transaction pays the same.
      return { commitment_fee_sat: Number(BigInt(params.fee_rate_sat_vb as number) * COMMITMENT_VBYTES) };
    },
  };
}
