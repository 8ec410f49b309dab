// A channel's funding transaction, built and signed by anyad's wallet for LDK's FundingGenerationReady: the wallet
// chooses P2WPKH coins and promises them to the channel ('ln:<user channel id>'), the HSM signs them with the wallet
// keys (their key origins on the PSBT), the change goes back to the wallet. LDK broadcasts it itself once the peer
// has signed the first commitment (funding_signed), so nothing is spent before the channel can be closed.

import * as bitcoin from 'bitcoinjs-lib';
import { rpcError } from '../../../core/errors.js';
import type { HsmApi } from '../../../hsm/api.js';
import { bip32DerivationOf, type WalletApi } from '../../../wallet/api.js';

/** How long the wallet keeps the coins for a funding LDK has not broadcast: the open fails long before. */
const RESERVE_SEC = 3600;
/** The transaction's header (11 vB), a P2WSH funding output (43 vB), a P2WPKH change output (31 vB); inputs are counted by the wallet. */
const EXTRA_VBYTES = 11 + 43 + 31;
/** Below this a P2WPKH change output is dust (Core's relay rule): it goes to the fee instead. */
const DUST_SAT = 294;

export const holderOf = (userChannelId: bigint): string => `ln:${userChannelId.toString(16)}`;

export interface FundingRequest {
  userChannelId: bigint;
  valueSat: bigint;
  outputScript: Uint8Array;
  feeRateSatVb: number;
}

/** The signed funding transaction (serialised) and where the channel's output is in it. */
export async function buildFunding(
  wallet: WalletApi,
  hsm: HsmApi,
  network: bitcoin.Network,
  req: FundingRequest,
): Promise<{ tx: Uint8Array; txid: string; vout: number }> {
  const holder = holderOf(req.userChannelId);
  const value = Number(req.valueSat);
  const fee0 = req.feeRateSatVb * EXTRA_VBYTES;
  const { coins, change_address } = await wallet.reserveCoins({ amount_sat: value + fee0, fee_rate: req.feeRateSatVb, holder, reserve_sec: RESERVE_SEC });
  try {
    const psbt = new bitcoin.Psbt({ network });
    for (const c of coins)
      psbt.addInput({
        hash: c.txid,
        index: c.vout,
        witnessUtxo: { script: Buffer.from(c.script, 'hex'), value: BigInt(c.amount_sat) },
        nonWitnessUtxo: Buffer.from(c.prev_tx, 'hex'),
        bip32Derivation: bip32DerivationOf(c.origin),
      });
    psbt.addOutput({ script: Buffer.from(req.outputScript), value: req.valueSat });
    const total = coins.reduce((s, c) => s + c.amount_sat, 0);
    const fee = fee0 + coins.length * 68 * req.feeRateSatVb;
    const change = total - value - fee;
    if (change < 0) throw rpcError('InvalidParams', `the wallet's coins (${total} sat) do not cover ${value} sat and the funding fee of ${fee} sat`);
    if (change >= DUST_SAT) psbt.addOutput({ address: change_address, value: BigInt(change) });
    const signed = await hsm.signPsbt(psbt.toBase64(), 'ln.openchannel');
    const done = bitcoin.Psbt.fromBase64(signed.psbt, { network });
    if (signed.signed.length !== coins.length)
      throw rpcError('PolicyDenied', `the HSM signed ${signed.signed.length} of the ${coins.length} funding inputs (is the wallet's keystore open?)`);
    done.finalizeAllInputs();
    const tx = done.extractTransaction();
    return { tx: tx.toBuffer(), txid: tx.getId(), vout: 0 };
  } catch (err) {
    await wallet.releaseCoins(holder).catch(() => undefined);
    throw err;
  }
}
