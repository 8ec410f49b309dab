// The RGB Lightning Node test peer's transfer handlers (see rgb-node.ts for what the peer proves): sendasset (a real
// transaction with an OP_RETURN commitment, its consignment posted to the proxy), refreshtransfers (the states move as
// rgb-lib documents them: ACK or NACK by the recipient, broadcast by the sender, settled at min_confirmations, an
// expired receive failed), failtransfers, and createutxos (a real transaction making colorable outputs).

import { createHash } from 'node:crypto';
import * as bitcoin from 'bitcoinjs-lib';
import { E } from './rgb-node-api.js';
import { balance, findAsset, freeColorable, NET, nextIdx, now, prefix, type RgbState, type TransferRec, type Utxo } from './rgb-node-state.js';

/** A real transaction spending one of the node's outputs: an OP_RETURN commitment and the change back to itself. */
function buildTx(s: RgbState, input: Utxo, commitment: Buffer, feeRate: number): { hex: string; txid: string; change: number } {
  const fee = Math.ceil(feeRate * 153);
  if (input.value - fee < 546) throw E.funds(fee + 546 - input.value);
  const psbt = new bitcoin.Psbt({ network: NET });
  psbt.addInput({ hash: input.txid, index: input.vout, witnessUtxo: { script: s.script, value: BigInt(input.value) } });
  psbt.addOutput({ script: bitcoin.payments.embed({ data: [commitment] }).output!, value: 0n });
  psbt.addOutput({ address: s.address, value: BigInt(input.value - fee) });
  psbt.signInput(0, s.key);
  psbt.finalizeAllInputs();
  const tx = psbt.extractTransaction();
  return { hex: tx.toHex(), txid: tx.getId(), change: input.value - fee };
}

export function sendAsset(s: RgbState, b: Record<string, unknown>): unknown {
  const asset = findAsset(s, b.asset_id as string);
  const recipient = b.recipient_id as string;
  const net = /^(bc|tb|bcrt):(utxob|wvout):[0-9A-Za-z_~-]+$/.exec(recipient)?.[1];
  if (!net) throw E.recipient();
  if (net !== prefix(s)) throw E.recipientNet();
  const amount = (b.assignment as { value: number }).value;
  if (amount === 0) throw E.amount('0');
  if ((b.fee_rate as number) < 1) throw E.feeRate('must be at least 1');
  if (s.opts.proxy.consignments.has(recipient)) throw E.recipientUsed();
  if (balance(s, asset.asset_id).spendable < amount) throw E.assets();
  const input = freeColorable(s);
  if (!input) throw E.noUtxos();
  const commitment = createHash('sha256').update(`${asset.asset_id}|${amount}|${recipient}`).digest();
  const tx = buildTx(s, input, commitment, b.fee_rate as number);
  input.spent = true;
  const donation = b.donation as boolean;
  const t = now();
  s.transfers.push({
    idx: nextIdx(s),
    asset_id: asset.asset_id,
    created_at: t,
    updated_at: t,
    status: donation ? 'WaitingConfirmations' : 'WaitingCounterparty',
    requested_assignment: null,
    assignments: [{ type: 'Fungible', value: amount }],
    kind: 'Send',
    txid: tx.txid,
    recipient_id: recipient,
    receive_utxo: null,
    change_utxo: `${tx.txid}:1`,
    expiration: t + 86_400,
    transport_endpoints: (b.transport_endpoints as string[]).map((endpoint) => ({ endpoint, transport_type: 'JsonRpc' as const, used: true })),
    min_confirmations: b.min_confirmations as number,
    txhex: tx.hex,
    txchange: tx.change,
    input,
  });
  s.opts.proxy.consignments.set(recipient, { asset, amount, txid: tx.txid, ack: null });
  if (donation) return s.opts.chain.send(tx.hex).then(() => afterBroadcast(s, tx.txid, tx.change));
  return { txid: tx.txid };
}

function afterBroadcast(s: RgbState, txid: string, change: number): { txid: string } {
  s.utxos.push({ txid, vout: 1, value: change, colorable: true, spent: false });
  return { txid };
}

async function confirmations(s: RgbState, txid: string): Promise<number> {
  try {
    const tx = await s.opts.chain.rpc<{ confirmations?: number }>('getrawtransaction', txid, true);
    return tx.confirmations ?? 0;
  } catch {
    return 0;
  }
}

export async function refreshTransfers(s: RgbState): Promise<unknown> {
  for (const t of s.transfers) {
    const before = t.status;
    if (t.status === 'WaitingCounterparty' && t.kind !== 'Send') {
      const c = t.recipient_id ? s.opts.proxy.consignments.get(t.recipient_id) : undefined;
      if (c && c.ack === null) {
        const wanted = t.requested_assignment?.value;
        if ((t.asset_id && t.asset_id !== c.asset.asset_id) || (wanted !== undefined && wanted !== c.amount)) {
          c.ack = false;
          t.status = 'Failed';
        } else {
          c.ack = true;
          if (!s.assets.has(c.asset.asset_id)) s.assets.set(c.asset.asset_id, { ...c.asset, added_at: now() });
          t.asset_id = c.asset.asset_id;
          t.txid = c.txid;
          t.assignments = [{ type: 'Fungible', value: c.amount }];
          t.status = 'WaitingConfirmations';
        }
      } else if (!c && t.expiration !== null && t.expiration < now()) t.status = 'Failed';
    } else if (t.status === 'WaitingCounterparty' && t.kind === 'Send') {
      const c = s.opts.proxy.consignments.get(t.recipient_id!);
      if (c?.ack === true) {
        await s.opts.chain.send(t.txhex!);
        afterBroadcast(s, t.txid!, t.txchange!);
        t.status = 'WaitingConfirmations';
      } else if (c?.ack === false) {
        t.status = 'Failed';
        releaseInput(t);
      }
    }
    if (t.status === 'WaitingConfirmations' && (await confirmations(s, t.txid!)) >= Math.max(1, t.min_confirmations)) t.status = 'Settled';
    if (t.status !== before) t.updated_at = now();
  }
  return {};
}

function releaseInput(t: TransferRec): void {
  if (t.input) t.input.spent = false;
}

export function failTransfers(s: RgbState, b: Record<string, unknown>): unknown {
  const eligible = (t: TransferRec): boolean =>
    t.status === 'WaitingCounterparty' && (t.kind === 'Send' ? s.opts.proxy.consignments.get(t.recipient_id!)?.ack !== true : true);
  const idx = b.batch_transfer_idx as number | null | undefined;
  if (idx !== null && idx !== undefined) {
    const t = s.transfers.find((x) => x.idx === idx);
    if (!t) throw E.batch();
    if (!eligible(t)) throw E.cannotFail();
    t.status = 'Failed';
    t.updated_at = now();
    releaseInput(t);
    return { transfers_changed: true };
  }
  let changed = false;
  for (const t of s.transfers)
    if (eligible(t) && t.kind !== 'Send' && (!b.no_asset_only || t.asset_id === null)) {
      t.status = 'Failed';
      t.updated_at = now();
      changed = true;
    }
  return { transfers_changed: changed };
}

export async function createUtxos(s: RgbState, b: Record<string, unknown>): Promise<unknown> {
  const num = (b.num as number | null | undefined) ?? 4;
  const size = (b.size as number | null | undefined) ?? 32_500;
  const have = s.utxos.filter((u) => u.colorable && !u.spent).length;
  if (b.up_to && have >= num) throw E.allocations();
  const count = b.up_to ? num - have : num;
  const fee = Math.ceil((b.fee_rate as number) * (11 + 68 + 31 * (count + 1)));
  const input = s.utxos.find((u) => !u.colorable && !u.spent && u.value >= count * size + fee + 546);
  if (!input) throw E.funds(count * size + fee + 546);
  const psbt = new bitcoin.Psbt({ network: NET });
  psbt.addInput({ hash: input.txid, index: input.vout, witnessUtxo: { script: s.script, value: BigInt(input.value) } });
  for (let i = 0; i < count; i++) psbt.addOutput({ address: s.address, value: BigInt(size) });
  psbt.addOutput({ address: s.address, value: BigInt(input.value - count * size - fee) });
  psbt.signInput(0, s.key);
  psbt.finalizeAllInputs();
  const tx = psbt.extractTransaction();
  await s.opts.chain.send(tx.toHex());
  input.spent = true;
  const txid = tx.getId();
  for (let i = 0; i < count; i++) s.utxos.push({ txid, vout: i, value: size, colorable: true, spent: false });
  s.utxos.push({ txid, vout: count, value: input.value - count * size - fee, colorable: false, spent: false });
  return {};
}
