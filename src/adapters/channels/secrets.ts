// The counterparty's revealed per-commitment secrets at rest (issue 26). Each one is what punishes a revoked state
// of theirs (the revocation key is derived from it), so anyone holding a copy of the datadir or of a backup could
// sign the penalty as well as we can, or learn how the channel went. A channel record therefore keeps its BOLT 3
// shachain store (at most 49 entries) with every secret sealed by the HSM room (HsmApi.sealSecret), its purpose
// naming the channel and the commitment index, so a sealed value moved to another record or position does not open.
//
// The secrets are opened only where they are needed: to check a newly revealed one against those before it
// (BOLT 3 "Efficient Per-commitment Secret Storage") and to punish a breach; both also need the keystore unlocked
// for the signatures that follow, so sealing adds no new way to be stopped. Records an earlier anyad wrote with the
// secrets in clear stay readable as they are until the room's sweep (ChannelService.resealClear) seals them.

import type { HsmApi } from '../../hsm/api.js';
import type { StoredSecret } from './shachain.js';

/** A shachain entry as the record keeps it: the index and the sealed secret. */
export interface SealedSecret {
  index: string;
  sealed: string;
}

/** An entry of a record's their_secrets: sealed, in clear (an earlier anyad's record), or an empty position (null). */
export type KeptSecret = SealedSecret | StoredSecret | null | undefined;

/** The purpose a revealed secret is sealed for: bound as associated data (printable, no spaces, under 200 characters). */
export const secretPurpose = (channel: string, index: string): string => `sc.secret:${channel}:${index}`;

/** Whether a record's store holds a secret in clear (written before secrets were sealed). */
export function holdsClear(kept: readonly KeptSecret[]): boolean {
  return kept.some((k) => !!k && 'secret' in k);
}

/** The store in clear, for SecretStore: every sealed entry opened (Locked while the keystore is locked). */
export async function openSecrets(hsm: HsmApi, channel: string, kept: readonly KeptSecret[]): Promise<StoredSecret[]> {
  const out: Array<StoredSecret | undefined> = [];
  for (const k of kept) {
    if (!k) out.push(undefined);
    else if ('secret' in k) out.push(k);
    else out.push({ index: k.index, secret: (await hsm.openSecret(secretPurpose(channel, k.index), k.sealed)).toString('hex') });
  }
  return out as StoredSecret[];
}

/**
 * The store to keep: every entry sealed. An entry already sealed for the same index at the same position is kept as
 * it is (only the newly revealed secret, or a clear one, is sealed), so an update seals one value.
 */
export async function sealSecrets(
  hsm: HsmApi,
  channel: string,
  plain: readonly (StoredSecret | undefined)[],
  kept: readonly KeptSecret[],
): Promise<Array<SealedSecret | null>> {
  const out: Array<SealedSecret | null> = [];
  for (const [i, p] of plain.entries()) {
    const was = kept[i];
    if (!p) out.push(null);
    else if (was && 'sealed' in was && was.index === p.index) out.push(was);
    else out.push({ index: p.index, sealed: await hsm.sealSecret(secretPurpose(channel, p.index), Buffer.from(p.secret, 'hex')) });
  }
  return out;
}
