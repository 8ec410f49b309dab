// dlc.* methods: the DLC room's service behind anyad's API; messages travel as hex that apps carry between parties.

import { callerOf, implement, roleAllows, type MethodSpec } from '../../core/methods.js';
import { rpcError } from '../../core/errors.js';
import * as D from './declarations.js';
import { decodeAttestation, OracleError, verifyAnnouncement, verifyAttestation } from './oracle.js';
import type { ContractRecord, DlcService } from './service.js';

const summary = (r: ContractRecord) => ({
  id: r.id,
  role: r.role,
  state: r.state,
  contract_id: r.contract_id,
  funding_txid: r.funding_txid,
  closing_txid: r.closing_txid,
  outcome: r.outcome,
  keys: r.keys,
  created: r.created,
  updated: r.updated,
});

function oracle<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof OracleError) throw rpcError('InvalidParams', err.message);
    throw err;
  }
}

/** dlc.close's attestation (one oracle) or attestations (several): exactly one of them. */
export function attestationList(one: string | undefined, many: string[] | undefined): string[] {
  if ((one === undefined) === (many === undefined)) throw rpcError('InvalidParams', 'give attestation (one oracle) or attestations (several), not both');
  return many ?? [one!];
}

export function dlcMethods(svc: DlcService): MethodSpec[] {
  return [
    implement(D.dlcVerifyannouncement, ({ announcement }) => oracle(() => verifyAnnouncement(Buffer.from(announcement, 'hex')))),
    implement(D.dlcVerifyattestation, ({ announcement, attestation }) =>
      oracle(() => verifyAttestation(verifyAnnouncement(Buffer.from(announcement, 'hex')), decodeAttestation(Buffer.from(attestation, 'hex')))),
    ),
    implement(D.dlcFetchannouncement, ({ event_id }) => svc.fetchAnnouncement(event_id)),
    implement(D.dlcOffer, (p, ctx) => svc.offer(p, callerOf(ctx))),
    implement(D.dlcDecodeoffer, ({ offer }) => svc.decodeOffer(offer)),
    implement(D.dlcAccept, ({ offer, id, utxos, expect }, ctx) => {
      if ((offer === undefined) === (id === undefined)) throw rpcError('InvalidParams', 'give offer (hex) or id (an offer a peer sent), not both');
      return offer !== undefined ? svc.accept(offer, utxos, callerOf(ctx), expect) : svc.acceptReceived(id!, utxos, callerOf(ctx), expect);
    }),
    implement(D.dlcSign, ({ accept }, ctx) => svc.signAccept(accept, callerOf(ctx))),
    implement(D.dlcFinalize, ({ sign }, ctx) => svc.finalize(sign, callerOf(ctx))),
    implement(D.dlcClose, ({ id, attestation, attestations }, ctx) => svc.settle(id, attestationList(attestation, attestations), callerOf(ctx))),
    implement(D.dlcRefund, ({ id }, ctx) => svc.refund(id, callerOf(ctx))),
    implement(D.dlcProposeclose, ({ id, payout_sat }, ctx) => svc.proposeClose(id, payout_sat, callerOf(ctx))),
    implement(D.dlcAcceptclose, ({ close, id, payout_sat }, ctx) => {
      if ((close === undefined) === (id === undefined))
        throw rpcError('InvalidParams', 'give close (hex) or id (a contract whose peer proposed a close), not both');
      return close !== undefined ? svc.acceptClose(close, payout_sat, callerOf(ctx)) : svc.acceptReceivedClose(id!, payout_sat, callerOf(ctx));
    }),
    implement(D.dlcCancel, ({ id }, ctx) => svc.cancel(id, callerOf(ctx))),
    implement(D.dlcList, async () => (await svc.list()).map(summary)),
    // The messages' CET and refund signatures are sealed at rest (sealing.ts): a readonly caller gets them without.
    implement(D.dlcGet, async ({ id }, ctx) => {
      const { rec, accept, sign, signatures } = await svc.exchanged(id, roleAllows(ctx.role, 'user'));
      return { ...summary(rec), offer: rec.offer, accept, sign, signatures };
    }),
  ];
}
