// Checks a BOLT11 invoice in anyad before any node sees it, so a malformed invoice or one for another network gets
// the same clear InvalidParams from both backends (lightningd and LND word and code these differently).

import { parsePaymentRequest } from 'invoices';
import type { Network } from '../../core/options.js';
import { rpcError } from '../../core/errors.js';

/** The network names in BOLT11 prefixes (as the invoices package reports them). */
const INVOICE_NETWORK: Record<Network, string> = { main: 'bitcoin', test: 'testnet', signet: 'signet', regtest: 'regtest' };

export function checkInvoice(invoice: string, network: Network): void {
  let parsed: ReturnType<typeof parsePaymentRequest>;
  try {
    parsed = parsePaymentRequest({ request: invoice });
  } catch (err) {
    throw rpcError('InvalidParams', `invoice: not a valid BOLT11 invoice (${(err as Error).message})`, { param: 'invoice' });
  }
  if (parsed.network !== INVOICE_NETWORK[network])
    throw rpcError('InvalidParams', `invoice: it is for ${parsed.network}, but anyad runs on ${INVOICE_NETWORK[network]}`, { param: 'invoice' });
}
