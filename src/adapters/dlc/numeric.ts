// Numeric-outcome contracts (dlcspecs PayoutCurve.md and NumericOutcome.md): a payout function of polynomial pieces
// between points, evaluated at every outcome the oracle can attest, rounded per rounding interval; consecutive
// outcomes with the same payout grouped, and each group covered by the fewest digit prefixes (CET compression):
// one CET per prefix, whose adaptor point is the sum of the oracle's anticipated signature points of its digits.
// Pieces are polynomial (through points) or hyperbolas; multi-oracle error bounds are not built yet (refused by
// name where they are read).

export interface PayoutPoint {
  event_outcome: bigint;
  outcome_payout: bigint;
  extra_precision: number;
}

/** A float as the messages carry it (rust-dlc's write_f64): sign, integer part, 16 bits of fraction. */
export interface WireFloat {
  positive: boolean;
  int: bigint;
  frac: number;
}

export const floatValue = (f: WireFloat): number => (Number(f.int) + f.frac / 65536) * (f.positive ? 1 : -1);

/**
 * The hyperbola of PayoutCurve.md: payout = c·(t + s)/(2a) + 2a·d/(t + s) + translate_payout, with
 * t = outcome - translate_outcome and s = ±√(t² - 4ab) (the positive or the negative piece).
 */
export interface Hyperbola {
  use_positive_piece: boolean;
  translate_outcome: WireFloat;
  translate_payout: WireFloat;
  a: WireFloat;
  b: WireFloat;
  c: WireFloat;
  d: WireFloat;
}

/**
 * A piece from its end point (its left end) to the next piece's end point: polynomial through its interior points,
 * or a hyperbola.
 */
export interface PayoutPiece {
  end_point: PayoutPoint;
  points: PayoutPoint[];
  hyperbola?: Hyperbola;
}

export interface NumericDescriptor {
  num_digits: number;
  pieces: PayoutPiece[];
  last_endpoint: PayoutPoint;
  rounding: Array<{ begin: bigint; mod: bigint }>;
}

/** One CET of a numeric contract: the offerer's payout, and the digit prefix whose attestation unlocks it. */
export interface NumericCet {
  offer_payout: bigint;
  digits: number[];
}

export class NumericError extends Error {
  override name = 'NumericError';
}

/** Outcomes evaluated one by one: beyond this, refuse rather than take minutes (range evaluation is not built). */
const MAX_OUTCOMES = 1 << 20;

const value = (p: PayoutPoint): number => Number(p.outcome_payout) + p.extra_precision / 65536;

/** Lagrange interpolation through the points, at x (what the payout curve is between its points). */
function lagrange(points: Array<{ x: number; y: number }>, x: number): number {
  let sum = 0;
  for (let i = 0; i < points.length; i++) {
    let term = points[i]!.y;
    for (let j = 0; j < points.length; j++) if (j !== i) term *= (x - points[j]!.x) / (points[i]!.x - points[j]!.x);
    sum += term;
  }
  return sum;
}

/** The hyperbola at x, evaluated as rust-dlc evaluates it (IEEE doubles, the same operations in the same order). */
function hyperbolaAt(h: Hyperbola, x: number): number {
  const [a, b, c, d] = [h.a, h.b, h.c, h.d].map(floatValue) as [number, number, number, number];
  const t = x - floatValue(h.translate_outcome);
  const root = Math.sqrt(t * t - 4 * a * b);
  const s = h.use_positive_piece ? root : -root;
  const v = (c * (t + s)) / (2 * a) + (2 * a * d) / (t + s) + floatValue(h.translate_payout);
  if (!Number.isFinite(v)) throw new NumericError(`the hyperbola piece has no value at outcome ${x}`);
  return v;
}

/** Rounds to the nearest multiple of the rounding interval's modulus in force at the outcome (halves up). */
function round(desc: NumericDescriptor, outcome: number, payout: number): number {
  let mod = 1;
  for (const r of desc.rounding) if (Number(r.begin) <= outcome) mod = Number(r.mod);
  // To the satoshi first (the curve is evaluated in floating point), then to the modulus in integers.
  const sat = Math.round(payout);
  if (mod <= 1) return sat;
  const rem = sat % mod;
  return rem >= mod / 2 ? sat + mod - rem : sat - rem;
}

/** Checks the function's shape: pieces in increasing outcome order, covering 0 to the largest attestable outcome. */
export function checkDescriptor(desc: NumericDescriptor, base: number, total: bigint): void {
  const max = base ** desc.num_digits - 1;
  if (base ** desc.num_digits > MAX_OUTCOMES)
    throw new NumericError(`${base}^${desc.num_digits} outcomes are more than this build evaluates (${MAX_OUTCOMES})`);
  if (desc.pieces.length === 0) throw new NumericError('the payout function has no pieces');
  if (desc.pieces[0]!.end_point.event_outcome !== 0n) throw new NumericError('the payout function must start at outcome 0');
  if (Number(desc.last_endpoint.event_outcome) !== max)
    throw new NumericError(`the payout function must end at outcome ${max} (${base}^${desc.num_digits} - 1)`);
  const all = desc.pieces.flatMap((p) => [p.end_point, ...p.points]).concat(desc.last_endpoint);
  for (let i = 1; i < all.length; i++)
    if (all[i]!.event_outcome <= all[i - 1]!.event_outcome) throw new NumericError('the payout function points must have increasing outcomes');
  for (const p of all) if (p.outcome_payout > total) throw new NumericError(`a payout point pays ${p.outcome_payout}, more than the total collateral ${total}`);
  if (desc.rounding.length === 0 || desc.rounding[0]!.begin !== 0n) throw new NumericError('the rounding intervals must start at outcome 0');
  for (const r of desc.rounding) if (r.mod < 1n) throw new NumericError('a rounding modulus must be at least 1');
}

/** The offerer's payout at every outcome 0..base^digits-1. */
export function payouts(desc: NumericDescriptor, base: number, total: bigint): number[] {
  checkDescriptor(desc, base, total);
  const out: number[] = [];
  desc.pieces.forEach((piece, i) => {
    const end = i + 1 < desc.pieces.length ? desc.pieces[i + 1]!.end_point : desc.last_endpoint;
    const pts = [piece.end_point, ...piece.points, end].map((p) => ({ x: Number(p.event_outcome), y: value(p) }));
    const from = Number(piece.end_point.event_outcome);
    const to = Number(end.event_outcome) - (i + 1 < desc.pieces.length ? 1 : 0);
    for (let x = from; x <= to; x++) {
      const v = round(desc, x, piece.hyperbola ? hyperbolaAt(piece.hyperbola, x) : lagrange(pts, x));
      out[x] = Math.min(Number(total), Math.max(0, v));
    }
  });
  return out;
}

const digitsOf = (n: number, base: number, width: number): number[] => {
  const d: number[] = [];
  for (let i = 0; i < width; i++) {
    d.unshift(n % base);
    n = Math.floor(n / base);
  }
  return d;
};

/** The fewest aligned digit prefixes covering [start, end] (each prefix: a block of base^k outcomes), in order. */
export function prefixes(start: number, end: number, base: number, width: number): number[][] {
  const out: number[][] = [];
  let at = start;
  while (at <= end) {
    let k = 0;
    while (k < width && at % base ** (k + 1) === 0 && at + base ** (k + 1) - 1 <= end) k++;
    out.push(digitsOf(at, base, width).slice(0, width - k));
    at += base ** k;
  }
  return out;
}

/** Every CET of the contract: outcomes grouped by payout, each group's prefixes, ascending. */
export function numericCets(desc: NumericDescriptor, base: number, total: bigint): NumericCet[] {
  const p = payouts(desc, base, total);
  const cets: NumericCet[] = [];
  let start = 0;
  for (let x = 1; x <= p.length; x++) {
    if (x < p.length && p[x] === p[start]) continue;
    for (const digits of prefixes(start, x - 1, base, desc.num_digits)) cets.push({ offer_payout: BigInt(p[start]!), digits });
    start = x;
  }
  return cets;
}
