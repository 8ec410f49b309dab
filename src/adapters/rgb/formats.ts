// What anyad checks itself before the RGB node sees a request: asset ids, RGB invoices and recipient ids, and the
// network they are for. Formats as RGB v0.11 writes them (rgb-std invoice, baid64 ids) and RGB Lightning Node's
// openapi.yaml shows them:
//   asset id   rgb:CJkb4YZw-jRiz2sk-~PARPio-wtVYI1c-XAEYCqO-wTfvRZ8   (32 bytes, baid64: [0-9A-Za-z_~], '-' groups)
//   recipient  bcrt:utxob:cbgHUJ4e-7QyKY4U-...   (network prefix, then utxob = blinded UTXO, wvout = witness output)
//   invoice    rgb:<contract|~>/.../<recipient>?expiry=<unix>&endpoints=<transport URLs>
// Anything more (the assignment, the expiry, the endpoints) is the node's to decode: anyad asks it (decodergbinvoice)
// and checks its answer against the same network.

import type { Network } from '../../core/options.js';
import { rpcError } from '../../core/errors.js';

const BAID64 = /^[0-9A-Za-z_~]+$/;

/** The RGB network prefix of recipient ids on each of anyad's networks (testnet and signet share tb). */
const PREFIX: Record<Network, string> = { main: 'bc', test: 'tb', signet: 'tb', regtest: 'bcrt' };
const PREFIX_NETWORK: Record<string, string> = { bc: 'mainnet', tb: 'testnet or signet', bcrt: 'regtest' };

/** RGB Lightning Node's BitcoinNetwork names (routes.rs) for each of anyad's networks. */
const NODE_NETWORKS: Record<Network, readonly string[]> = { main: ['Mainnet'], test: ['Testnet', 'Testnet4'], signet: ['Signet'], regtest: ['Regtest'] };

export function nodeNetworkMatches(network: Network, nodeNetwork: string): boolean {
  return NODE_NETWORKS[network].includes(nodeNetwork);
}

/** A well-formed RGB contract (asset) id, or undefined. */
export function assetIdProblem(id: string): string | undefined {
  if (!id.startsWith('rgb:')) return "an asset id starts with 'rgb:'";
  const body = id.slice(4).replaceAll('-', '');
  if (!BAID64.test(body) || body.length !== 43)
    return 'an asset id is rgb: and 43 baid64 characters (32 bytes), e.g. rgb:CJkb4YZw-jRiz2sk-~PARPio-wtVYI1c-XAEYCqO-wTfvRZ8';
  return undefined;
}

export function checkAssetId(id: string, field = 'asset_id'): void {
  const problem = assetIdProblem(id);
  if (problem) throw rpcError('InvalidParams', `${field}: ${problem}`, { field });
}

/** A recipient id's network prefix checked against anyad's network; its kind (blind or witness). */
export function checkRecipient(recipient: string, network: Network, field: string): 'blind' | 'witness' {
  const m = /^(bc|tb|bcrt):(utxob|wvout):([0-9A-Za-z_~-]{20,120})$/.exec(recipient);
  if (!m) throw rpcError('InvalidParams', `${field}: not an RGB recipient (expected <bc|tb|bcrt>:<utxob|wvout>:<id>)`, { field });
  if (m[1] !== PREFIX[network])
    throw rpcError('InvalidParams', `${field}: the recipient is for ${PREFIX_NETWORK[m[1]!]}, anyad runs on ${network}`, { field, network: m[1] });
  return m[2] === 'utxob' ? 'blind' : 'witness';
}

/** The recipient id inside an RGB invoice, its network checked. */
export function checkInvoice(invoice: string, network: Network): { recipient: string } {
  if (!invoice.startsWith('rgb:')) throw rpcError('InvalidParams', "invoice: an RGB invoice starts with 'rgb:'", { field: 'invoice' });
  if (/\s/.test(invoice)) throw rpcError('InvalidParams', 'invoice: contains white space', { field: 'invoice' });
  const path = invoice.slice(4).split('?')[0]!;
  const recipient = path.split('/').at(-1)!;
  checkRecipient(recipient, network, 'invoice');
  return { recipient };
}
