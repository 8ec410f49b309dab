// anya-cli's wallet commands: `-getbalance` (wallet.getbalance for people) and `send <address> <amount> [feerate]`
// (wallet.send with bitcoin-cli sendtoaddress's habits: the amount in BTC, the txid printed). Amounts are turned
// into satoshis from their decimal text, never through a float (0.1 + 0.2 is not 0.3 in binary), as Core's
// ParseFixedPoint does for the amounts its RPCs take.

import { UsageError } from './args.js';

const SAT_PER_BTC = 100_000_000n;
/** Every bitcoin there will ever be, in satoshis (Core's MAX_MONEY). */
const MAX_MONEY = 21_000_000n * SAT_PER_BTC;

/**
 * "12.5" → 1250000000. Plain decimals with at most 8 places, or with an exponent as Core accepts them ("1e-3");
 * anything finer than a satoshi, zero, negative or above 21 million BTC is refused by name.
 */
export function btcToSat(text: string): number {
  const m = /^(\d+)(?:\.(\d*))?(?:[eE]([+-]?\d{1,3}))?$/.exec(text.trim());
  if (!m) throw new UsageError(`amount '${text}' is not a number of BTC (e.g. 0.001)`);
  const frac = m[2] ?? '';
  const exp = Number(m[3] ?? 0);
  // digits × 10^(8 + exp − places) satoshis
  const digits = BigInt(`${m[1]}${frac}`);
  const shift = 8 + exp - frac.length;
  let sat: bigint;
  if (shift >= 0) sat = digits * 10n ** BigInt(shift);
  else {
    const unit = 10n ** BigInt(-shift);
    if (digits % unit !== 0n) throw new UsageError(`amount '${text}' is finer than a satoshi (0.00000001 BTC): at most 8 decimal places`);
    sat = digits / unit;
  }
  if (sat === 0n) throw new UsageError(`amount '${text}' is zero`);
  if (sat > MAX_MONEY) throw new UsageError(`amount '${text}' is more than the 21,000,000 BTC there will ever be`);
  return Number(sat);
}

/** 1250000000 → "12.50000000", exactly (integer arithmetic). */
export function satToBtc(sat: number): string {
  const s = BigInt(sat);
  const neg = s < 0n;
  const a = neg ? -s : s;
  return `${neg ? '-' : ''}${a / SAT_PER_BTC}.${String(a % SAT_PER_BTC).padStart(8, '0')}`;
}

/** A fee rate in sat/vB, as -feerate= or the third argument of send takes it. */
export function parseFeeRate(text: string): number {
  if (!/^\d+(\.\d+)?$/.test(text.trim()) || Number(text) <= 0) throw new UsageError(`fee rate '${text}' is not a number of sat/vB (e.g. 2 or 1.5)`);
  return Number(text);
}

/** The params of wallet.send for `send <address> <amount> [feerate]`, with -feerate= as the other way to name the rate. */
export function sendParams(
  args: readonly string[],
  feerateOption: string | undefined,
): { outputs: Array<{ address: string; amount_sat: number }>; fee_rate?: number } {
  if (args.length < 2 || args.length > 3) throw new UsageError('send takes <address> <amount in BTC> [fee rate in sat/vB] (or -feerate=<sat/vB> before it)');
  const [address, amount, rate] = args as [string, string, string | undefined];
  if (rate !== undefined && feerateOption !== undefined) throw new UsageError('the fee rate is given twice: as -feerate= and as the third argument of send');
  const given = rate ?? feerateOption;
  const feeRate = given === undefined ? undefined : parseFeeRate(given);
  return { outputs: [{ address, amount_sat: btcToSat(amount) }], ...(feeRate !== undefined ? { fee_rate: feeRate } : {}) };
}

export interface WalletBalance {
  confirmed_sat: number;
  unconfirmed_sat: number;
  immature_sat: number;
  reserved_sat: number;
  total_sat: number;
}

/** wallet.getbalance for people, in BTC with eight places, the amounts aligned. */
export function describeBalance(b: WalletBalance): string {
  const rows: Array<[string, number, string]> = [
    ['Confirmed', b.confirmed_sat, ''],
    ['Unconfirmed', b.unconfirmed_sat, '  (in the mempool)'],
    ['Immature', b.immature_sat, '  (coinbase: spendable once 100 blocks deep)'],
    ['Reserved', b.reserved_sat, '  (of the above: promised to a funded PSBT, a send or another room)'],
    ['Total', b.total_sat, ''],
  ];
  const amounts = rows.map(([, sat]) => satToBtc(sat));
  const w = Math.max(...amounts.map((a) => a.length));
  return rows.map(([name, , note], i) => `${`${name}:`.padEnd(13)}${amounts[i]!.padStart(w)} BTC${note}`).join('\n');
}

/** A wallet call answered "method not found": anyad runs without its wallet room, and why that happens. */
export const NO_WALLET =
  "anyad has no wallet: the wallet room is on only with the bitcoin room and a software keystore (hsm.provider=software, or regtest's embedded keystore), and wallet.enable=1; a PKCS#11 token has no seed to derive it from";
