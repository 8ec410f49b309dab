// The DLC room as a Layer2 adapter (protocol "dlc", backend "anyad"): the dlc.* flows through l2.submit, l2.status
// and l2.history, so an app that speaks l2.* reaches contracts the way it reaches Lightning. The schemas are the
// dlc.* declarations' own; the work is the service's, audited in the HSM under submit's caller (callerOf of the
// l2.submit call, e.g. "unix#7 l2.submit").

import type { Static, TSchema } from '@sinclair/typebox';
import { rpcError } from '../../core/errors.js';
import { operationCapabilities, recordViews, type Layer2Adapter, type OperationRecord } from '../layer2/api.js';
import * as D from './declarations.js';
import { attestationList } from './methods.js';
import type { ContractRecord, DlcService } from './service.js';

const record = (r: ContractRecord): OperationRecord => ({
  id: r.id,
  operation: 'contract',
  status: r.state,
  created_at: Math.floor(Date.parse(r.created) / 1000),
  detail: { role: r.role, contract_id: r.contract_id, funding_txid: r.funding_txid, closing_txid: r.closing_txid, outcome: r.outcome },
});

const OPERATIONS = {
  offer: D.dlcOffer.params,
  accept: D.dlcAccept.params,
  sign: D.dlcSign.params,
  finalize: D.dlcFinalize.params,
  close: D.dlcClose.params,
  refund: D.dlcRefund.params,
  proposeclose: D.dlcProposeclose.params,
  acceptclose: D.dlcAcceptclose.params,
  cancel: D.dlcCancel.params,
} satisfies Record<string, TSchema>;

export function dlcL2Adapter(svc: DlcService): Layer2Adapter {
  const { after, status, history } = recordViews(
    () => svc.list(),
    (id) => svc.get(id),
    record,
  );
  return {
    name: 'dlc-l2',
    protocol: 'dlc',
    backend: 'anyad',
    topics: ['dlc.contract'],
    operations: OPERATIONS,
    estimates: {},
    capabilities: () => [...operationCapabilities('contract', OPERATIONS), 'events.contract'],
    open: async () => undefined,
    close: async () => undefined,
    health: () => svc.health(),
    summary: async () => {
      const all = await svc.list();
      return { contracts: all.length, confirmed: all.filter((r) => r.state === 'confirmed').length };
    },
    async submit(operation, params, caller) {
      switch (operation) {
        case 'offer': {
          const r = await svc.offer(params as Static<typeof D.dlcOffer.params>, caller);
          return after(r.id, r);
        }
        case 'accept': {
          const p = params as Static<typeof D.dlcAccept.params>;
          const r = p.id !== undefined ? await svc.acceptReceived(p.id, p.utxos, caller, p.expect) : await svc.accept(p.offer ?? '', p.utxos, caller, p.expect);
          return after(r.id, r);
        }
        case 'sign': {
          const r = await svc.signAccept((params as Static<typeof D.dlcSign.params>).accept, caller);
          return after(r.id, r);
        }
        case 'finalize': {
          const r = await svc.finalize((params as Static<typeof D.dlcFinalize.params>).sign, caller);
          return after(r.id, r);
        }
        case 'close': {
          const p = params as Static<typeof D.dlcClose.params>;
          return after(p.id, await svc.settle(p.id, attestationList(p.attestation, p.attestations), caller));
        }
        case 'refund':
          return after(String(params.id), await svc.refund(String(params.id), caller));
        case 'proposeclose': {
          const p = params as Static<typeof D.dlcProposeclose.params>;
          return after(p.id, await svc.proposeClose(p.id, p.payout_sat, caller));
        }
        case 'acceptclose': {
          const p = params as Static<typeof D.dlcAcceptclose.params>;
          const r = p.id !== undefined ? await svc.acceptReceivedClose(p.id, p.payout_sat, caller) : await svc.acceptClose(p.close ?? '', p.payout_sat, caller);
          return after(r.id, r);
        }
        case 'cancel':
          return after(String(params.id), await svc.cancel(String(params.id), caller));
        default:
          throw rpcError('InvalidParams', `dlc cannot '${operation}'`);
      }
    },
    status,
    history,
    estimateFee(operation) {
      return Promise.reject(rpcError('InvalidParams', `dlc has no fee estimate for '${operation}': the fee rate is a term of the offer`));
    },
  };
}
