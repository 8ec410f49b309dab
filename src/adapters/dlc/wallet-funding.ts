// A contract funded by the wallet room (dlc.offer / dlc.accept without utxos, issue 27 item 4): the wallet chooses
// P2WPKH coins and promises them to the holder 'dlc:<id>' (one coin service for every room: a coin promised to a
// channel or a wallet send is never chosen here), their funding inputs are made from the transactions the wallet
// gives, their key origins are kept in the contract's record so the HSM signs them (bip32Derivation), and the
// payout and change go to the wallet's own addresses, so what the contract pays this side lands in its history.
// The coins are given back when the contract is cancelled or its offer or accept fails before it is saved.
// Coins the caller hand-picked (utxos) are promised to the same holder when the wallet room is on, so a wallet
// spend or a channel never takes them, and are given back on the same paths, or when the funding confirms (a
// foreign coin's spend is never seen by the wallet).

import * as bitcoin from 'bitcoinjs-lib';
import { rpcError } from '../../core/errors.js';
import type { WalletCoin, WalletInput } from '../../wallet/api.js';
import { P2WPKH_MAX_WITNESS } from './funding.js';
import type { FundingInput } from './messages.js';
import { cetFee, DUST_LIMIT, fundingFee } from './transactions.js';
import { hex, u64, type DlcContext } from './context.js';

/** A P2WPKH script's length in bytes (the payout and change scripts the wallet gives). */
const P2WPKH_SPK_BYTES = 22;
/**
 * How long the wallet keeps the coins promised to a contract that is neither funded nor cancelled: an offer may
 * wait days for its accept. dlc.cancel gives them back at once; a funding transaction seen spends them.
 */
const RESERVE_SEC = 30 * 24 * 3600;

/** The wallet's holder name for a contract's coins. */
export const holderOf = (id: string): string => `dlc:${id}`;

export interface WalletFunded {
  utxos: Array<{ txid: string; vout: number }>;
  inputs: FundingInput[];
  /** Kept in the record (ContractRecord.wallet): what the HSM needs to sign these inputs. */
  origins: WalletInput[];
  payoutSpk: string;
  changeSpk: string;
}

const inputOf = (c: WalletCoin): FundingInput => ({
  input_serial_id: u64(),
  prev_tx: c.prev_tx,
  prev_tx_vout: c.vout,
  sequence: 0xffffffff,
  max_witness_len: P2WPKH_MAX_WITNESS,
  redeem_script: '',
});

/**
 * Coins from the wallet for this side's collateral: enough for the collateral, its share of the funding and CET
 * fees (dlcspecs Transactions.md, as transactions.ts computes them; coin selection adds each input's 68 vB) and a
 * change output over the dust limit (buildFunding requires one).
 */
export async function walletFunding(ctx: DlcContext, id: string, collateral: bigint, feeRate: bigint): Promise<WalletFunded> {
  const wallet = ctx.wallet;
  if (!wallet)
    throw rpcError('InvalidParams', 'utxos is required: the wallet room is off (wallet.enable, a software keystore), so it cannot fund the contract');
  const spk = '00'.repeat(P2WPKH_SPK_BYTES);
  const amount = collateral + cetFee(spk, feeRate) + fundingFee([], spk, feeRate) + DUST_LIMIT;
  const holder = holderOf(id);
  const r = await wallet.reserveCoins({ amount_sat: Number(amount), fee_rate: Number(feeRate), holder, reserve_sec: RESERVE_SEC });
  try {
    const script = (address: string): string => hex(bitcoin.address.toOutputScript(address, ctx.net));
    return {
      utxos: r.coins.map((c) => ({ txid: c.txid, vout: c.vout })),
      inputs: r.coins.map(inputOf),
      origins: r.coins.map((c) => ({ outpoint: `${c.txid}:${c.vout}`, ...c.origin })),
      payoutSpk: script(await wallet.newAddress()),
      changeSpk: script(r.change_address),
    };
  } catch (err) {
    await wallet.releaseCoins(holder);
    throw err;
  }
}

/**
 * The caller's hand-picked coins promised to the contract by the wallet room (when it is on), under the caller's
 * 'utxos' lock: Conflict names a coin promised to another holder (a channel, a wallet send, another contract).
 */
export async function promiseHandPicked(ctx: DlcContext, id: string, utxos: Array<{ txid: string; vout: number }>): Promise<void> {
  await ctx.wallet?.reserveOutpoints({ outpoints: utxos.map((u) => `${u.txid.toLowerCase()}:${u.vout}`), holder: holderOf(id), reserve_sec: RESERVE_SEC });
}

/** Gives the contract's wallet coins back (a failed offer or accept, a cancel); a failure is logged, not thrown. */
export async function releaseWalletCoins(ctx: DlcContext, id: string): Promise<void> {
  await ctx.wallet?.releaseCoins(holderOf(id)).catch((err: Error) => ctx.log.warn({ id, err: err.message }, 'the wallet did not take back the contract coins'));
}

/** Runs `f` with the contract's coins promised (chosen or hand-picked); gives them back when it fails. */
export async function keepingCoinsOnFailure<T>(ctx: DlcContext, id: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    await releaseWalletCoins(ctx, id);
    throw err;
  }
}
