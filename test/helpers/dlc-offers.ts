// dlc.offer params the DLC and wallet tests share.

/** A win/lose bet on an enumerated event: each side puts `collateral`, the offerer takes both on 'win', nothing on 'lose'. */
export function winLoseOffer(announcementHex: string, collateral: number, feeRate: number, more: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    announcement: announcementHex,
    payouts: [
      { outcome: 'win', offer_payout_sat: 2 * collateral },
      { outcome: 'lose', offer_payout_sat: 0 },
    ],
    offer_collateral_sat: collateral,
    total_collateral_sat: 2 * collateral,
    fee_rate_sat_vb: feeRate,
    ...more,
  };
}
