// ln.* methods: one surface over whichever Lightning backends are configured. With one backend every call goes to
// it; with two, a call names one with `backend`, or goes to ln.default. Invoices and payments made here are kept as
// records (listed while the node is down, marked stale) and reported on ln.invoice / ln.payment.

import * as D from './declarations.js';
import { rpcError } from '../../core/errors.js';
import { implement, roleAllows, withoutPreimages, type MethodSpec } from '../../core/methods.js';
import { checkInvoice } from './bolt11.js';
import { refuseWhileStarting, type BackendName } from './backend.js';
import { createInvoice, keysend, pay, type LnParts } from './operations.js';
import { newestFirst } from './records.js';
import type { NodeWatch } from './watch.js';

export interface Configured extends LnParts {
  /** Publishes ln.channel / ln.peer changes; methods that change channels or peers ask it to look at once. */
  watch: NodeWatch;
}

/** Picks the backend for a call: the one named, the only one, or ln.default. */
export class BackendChooser {
  constructor(
    private readonly configured: Map<BackendName, Configured>,
    private readonly fallback: BackendName | undefined,
  ) {}

  pick(name: BackendName | undefined): Configured {
    const names = [...this.configured.keys()];
    const chosen = name ?? this.fallback ?? (names.length === 1 ? names[0] : undefined);
    if (chosen === undefined)
      throw rpcError('InvalidParams', `two Lightning backends are configured (${names.join(', ')}): name one with the backend param, or set ln.default`);
    const c = this.configured.get(chosen);
    if (!c) throw rpcError('InvalidParams', `backend '${chosen}' is not configured (configured: ${names.join(', ') || 'none'})`);
    refuseWhileStarting(c.backend);
    return c;
  }
}

export function lnMethods(chooser: BackendChooser): MethodSpec[] {
  const use = (p: { backend?: BackendName | undefined }): Configured => chooser.pick(p.backend);
  return [
    implement(D.lnGetinfo, async (p) => {
      const { backend } = use(p);
      return { backend: backend.backend, ...(await backend.getInfo()) };
    }),
    implement(D.lnBalance, (p) => use(p).backend.balance()),
    implement(D.lnListpeers, (p) => use(p).backend.listPeers()),
    implement(D.lnConnect, async (p) => {
      const { backend, watch } = use(p);
      await backend.connect(p.id, p.host, p.port);
      await watch.tick();
      return { id: p.id };
    }),
    implement(D.lnListchannels, (p) => use(p).backend.listChannels()),
    implement(D.lnOpenchannel, async (p) => {
      const { backend, watch } = use(p);
      const r = await backend.openChannel(p.peer, p.amount_sat);
      await watch.tick();
      return r;
    }),
    implement(D.lnClosechannel, async (p) => {
      const { backend, watch } = use(p);
      const r = await backend.closeChannel(p.channel, p.force === true);
      await watch.tick();
      return r;
    }),
    implement(D.lnCreateinvoice, (p) => createInvoice(use(p), p)),
    implement(D.lnLookupinvoice, async (p) => {
      const { backend, records } = use(p);
      if (!backend.connected) {
        const rec = await records.invoice(p.payment_hash.toLowerCase());
        if (!rec) throw rpcError('NotFound', `no invoice ${p.payment_hash} in anyad's records, and ${backend.backend} is not connected`);
        return { ...rec, stale: true };
      }
      const inv = await backend.lookupInvoice(p.payment_hash.toLowerCase());
      if (!inv) throw rpcError('NotFound', `no invoice ${p.payment_hash}`);
      return inv;
    }),
    implement(D.lnListinvoices, async (p) => {
      const { backend, records } = use(p);
      const { total, items } = newestFirst(await records.invoices(), p.limit, p.offset);
      return { backend: backend.backend, stale: !backend.connected, total, invoices: items };
    }),
    implement(D.lnDecode, (p) => {
      const { backend, network } = use(p);
      checkInvoice(p.invoice, network);
      return backend.decode(p.invoice);
    }),
    implement(D.lnPay, (p) => pay(use(p), p)),
    implement(D.lnKeysend, (p) => keysend(use(p), p)),
    implement(D.lnListpayments, async (p, ctx) => {
      const { backend, records, preimages } = use(p);
      const { total, items } = newestFirst(await records.payments(), p.limit, p.offset);
      // Preimages are opened (or read from the node) only for a role that may see them.
      const shown = roleAllows(ctx.role, 'user')
        ? await Promise.all(items.map((r) => preimages.reveal(r)))
        : items.map(({ preimage_sealed: _s, preimage: _p, ...rest }) => rest);
      return { backend: backend.backend, stale: !backend.connected, total, payments: withoutPreimages(shown, ctx.role) };
    }),
  ];
}
