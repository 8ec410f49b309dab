// The dlcspecs test vectors' accept fields as the JSON files under test/vectors keep them (64-bit numbers as
// strings), turned into the terms buildTransactions takes.

import type { FundingInput } from '../../src/adapters/dlc/messages.js';
import type { AcceptTerms } from '../../src/adapters/dlc/transactions.js';

export interface VectorAccept {
  accept_collateral: number | string;
  funding_pubkey: string;
  payout_spk: string;
  payout_serial_id: string;
  funding_inputs: Array<Omit<FundingInput, 'input_serial_id'> & { input_serial_id: string }>;
  change_spk: string;
  change_serial_id: string;
}

export function acceptTerms(a: VectorAccept): AcceptTerms {
  return {
    accept_collateral: BigInt(a.accept_collateral),
    funding_pubkey: a.funding_pubkey,
    payout_spk: a.payout_spk,
    payout_serial_id: BigInt(a.payout_serial_id),
    funding_inputs: a.funding_inputs.map((i) => ({ ...i, input_serial_id: BigInt(i.input_serial_id) })),
    change_spk: a.change_spk,
    change_serial_id: BigInt(a.change_serial_id),
  };
}
