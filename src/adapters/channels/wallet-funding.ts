// A channel funded by the wallet room (sc.open without utxos, issue 27 item 4): the wallet chooses P2WPKH coins and
// promises them to the holder 'sc:<id>' (one coin service for every room: a coin promised to a DLC or a wallet
// send is never chosen here), their key origins are kept in the channel's record so the HSM signs them on the
// funding PSBT (bip32Derivation), and the funding's change goes to the wallet's change address. The coins are
// given back when the channel is cancelled or its open fails before it is saved. Coins the caller hand-picked
// (utxos) are promised to the same holder when the wallet room is on, so a wallet spend or a DLC never takes them,
// and are given back on the same paths; a foreign coin's spend is never seen by the wallet, so its promise ends when
// the funding confirms (following.ts), or at its expiry for a channel that never gets there.

import type * as bitcoin from 'bitcoinjs-lib';
import { rpcError } from '../../core/errors.js';
import { bip32DerivationOf, type WalletInput } from '../../wallet/api.js';
import type { ChannelContext } from './context.js';
import type { ChannelRecord } from './record.js';

/**
 * How long the wallet keeps the coins promised to a channel that is neither funded nor cancelled: an open may wait
 * days for its accept. sc.cancel gives them back at once; the funding transaction seen spends them.
 */
const RESERVE_SEC = 30 * 24 * 3600;
/**
 * The funding transaction's size beyond what coin selection counts (its 10 vB header, the 43 vB P2WSH output, 68 vB
 * per input): onAccept's fee counts 11 vB of header and a 31 vB change output.
 */
const EXTRA_VBYTES = 11 + 31;

/** The wallet's holder name for a channel's coins. */
export const holderOf = (id: string): string => `sc:${id}`;

/** Coins from the wallet for the channel's capacity and its funding fee. */
export async function walletFunding(
  room: ChannelContext,
  id: string,
  capacity: bigint,
  feeRate: number,
): Promise<{ utxos: ChannelRecord['utxos']; wallet: NonNullable<ChannelRecord['wallet']> }> {
  const wallet = room.wallet;
  if (!wallet) throw rpcError('InvalidParams', 'utxos is required: the wallet room is off (wallet.enable, a software keystore), so it cannot fund the channel');
  const r = await wallet.reserveCoins({
    amount_sat: Number(capacity) + feeRate * EXTRA_VBYTES,
    fee_rate: feeRate,
    holder: holderOf(id),
    reserve_sec: RESERVE_SEC,
  });
  return {
    utxos: r.coins.map((c) => ({ txid: c.txid, vout: c.vout })),
    wallet: { inputs: r.coins.map((c) => ({ outpoint: `${c.txid}:${c.vout}`, ...c.origin })), change_address: r.change_address },
  };
}

/**
 * The caller's hand-picked coins promised to the channel by the wallet room (when it is on), under the 'utxos'
 * lock: Conflict names a coin promised to another holder (a DLC, a wallet send, another channel).
 */
export async function promiseHandPicked(room: ChannelContext, id: string, utxos: ChannelRecord['utxos']): Promise<void> {
  await room.wallet?.reserveOutpoints({ outpoints: utxos.map((u) => `${u.txid.toLowerCase()}:${u.vout}`), holder: holderOf(id), reserve_sec: RESERVE_SEC });
}

/** Gives the channel's wallet coins back (a failed open, a cancel); a failure is logged, not thrown. */
export async function releaseWalletCoins(room: ChannelContext, id: string): Promise<void> {
  await room.wallet
    ?.releaseCoins(holderOf(id))
    .catch((err: Error) => room.log.warn({ id, err: err.message }, 'the wallet did not take back the channel coins'));
}

/** The key origins of the wallet's inputs on the funding PSBT, so the HSM's wallet keys sign them. */
export function addOrigins(psbt: bitcoin.Psbt, inputs: WalletInput[]): void {
  const byOutpoint = new Map(inputs.map((o) => [o.outpoint, o]));
  psbt.txInputs.forEach((txin, idx) => {
    const o = byOutpoint.get(`${Buffer.from(txin.hash).reverse().toString('hex')}:${txin.index}`);
    if (o) psbt.updateInput(idx, { bip32Derivation: bip32DerivationOf(o) });
  });
}
