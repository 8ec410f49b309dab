// wallet.* handlers: the declarations bound to the service.

import { randomBytes } from 'node:crypto';
import { rpcError } from '../core/errors.js';
import { callerOf, implement, roleAllows, type MethodSpec } from '../core/methods.js';
import * as D from './declarations.js';
import { outpointOf } from './ledger.js';
import type { WalletService } from './service.js';
import { fund, send } from './funding.js';
import { bumpFee, cpfp } from './bump.js';
import { rescan } from './rescan.js';

const holderId = (kind: string): string => `${kind}:${randomBytes(8).toString('hex')}`;

export function walletMethods(svc: WalletService): MethodSpec[] {
  const confirmations = (height: number | null, tip: number): number => (height === null ? 0 : tip - height + 1);
  return [
    implement(D.walletGetbalance, () => svc.balance()),
    implement(D.walletListunspent, ({ minconf, maxconf, limit }) => {
      const tip = svc.tip();
      return (
        [...svc.ledger.coins.values()]
          .map((c) => ({ c, conf: confirmations(c.height, tip) }))
          .filter(({ conf }) => conf >= minconf && conf <= maxconf)
          // Plain code-unit order of the hex txids (localeCompare costs ICU collation on every one of n·log n compares).
          .sort((a, b) => b.conf - a.conf || (a.c.txid < b.c.txid ? -1 : a.c.txid > b.c.txid ? 1 : 0) || a.c.vout - b.c.vout)
          .slice(0, limit)
          .map(({ c, conf }) => {
            const d = svc.placeOf(c);
            const watched = c.watch !== undefined;
            const reserved = svc.reservations.of(outpointOf(c.txid, c.vout));
            return {
              txid: c.txid,
              vout: c.vout,
              address: d.address,
              amount_sat: c.value_sat,
              confirmations: conf,
              type: c.type,
              internal: c.chain === 1,
              coinbase: c.coinbase,
              spendable: !watched && svc.mature(c) && !reserved,
              solvable: true,
              watch_only: watched,
              reserved_by: reserved?.holder ?? null,
              path: d.path,
            };
          })
      );
    }),
    implement(D.walletListtransactions, ({ count, skip }) => {
      const tip = svc.tip();
      const all = [...svc.ledger.txs.values()].sort((a, b) => (b.height ?? Infinity) - (a.height ?? Infinity) || b.time - a.time);
      return {
        total: all.length,
        items: all.slice(skip, skip + count).map((t) => ({
          txid: t.txid,
          direction: t.sent_sat === 0 ? ('received' as const) : t.received_sat >= t.sent_sat - (t.fee_sat ?? 0) ? ('self' as const) : ('sent' as const),
          amount_sat: t.received_sat - t.sent_sat,
          fee_sat: t.fee_sat,
          status: t.status,
          confirmations: confirmations(t.height, tip),
          height: t.height,
          time: t.time,
          coinbase: t.coinbase,
          involves_watchonly: t.watch_only === true,
          label: t.label ?? null,
          replaced_by: t.replaced_by ?? null,
        })),
      };
    }),
    implement(D.walletGetnewaddress, async ({ type }) => {
      const d = await svc.newAddress(type, 0);
      return { address: d.address, type: d.type, path: d.path, index: d.index };
    }),
    implement(D.walletGetchangeaddress, async ({ type }) => {
      const d = await svc.newAddress(type, 1);
      return { address: d.address, type: d.type, path: d.path, index: d.index };
    }),
    implement(D.walletFundpsbt, async (p) => {
      const holder = holderId('psbt');
      const f = await fund(svc, { ...p, holder, reserveMs: p.reserve_sec === undefined ? undefined : p.reserve_sec * 1000 });
      return { psbt: f.psbt.toBase64(), fee_sat: f.fee_sat, change_pos: f.change_pos, holder, reserved_until: new Date(f.reserved_until).toISOString() };
    }),
    implement(D.walletSend, (p, ctx) => send(svc, { ...p, holder: holderId('send') }, callerOf(ctx))),
    implement(D.walletRelease, async ({ outpoints, holder }, ctx) => {
      if (!outpoints && holder === undefined && !roleAllows(ctx.role, 'admin'))
        throw rpcError('Forbidden', 'releasing every promised coin needs the admin role; name outpoints or a holder');
      return { released: await svc.release(outpoints, holder) };
    }),
    implement(D.walletListreservations, () =>
      svc.reservations.list().map((r) => ({
        outpoint: r.outpoint,
        holder: r.holder,
        expires_at: new Date(r.expires_at).toISOString(),
        created_at: new Date(r.created_at).toISOString(),
      })),
    ),
    implement(D.walletListdescriptors, () => svc.descriptors()),
    implement(D.walletImportdescriptors, async ({ requests }) => (await svc.importDescriptors(requests)).map((r) => ({ success: true, ...r }))),
    implement(D.walletBumpfee, ({ txid, fee_rate }, ctx) => bumpFee(svc, txid, fee_rate, callerOf(ctx))),
    implement(D.walletCpfp, ({ txid, fee_rate }, ctx) => cpfp(svc, txid, fee_rate, callerOf(ctx))),
    implement(D.walletRescan, (p) => rescan(svc, p)),
    implement(D.walletListevents, ({ since, limit }) => svc.eventLog.list(since, limit)),
  ];
}
