// Secrets at rest for other rooms (HsmApi.sealSecret / openSecret, seal.ts): sealed under the keystore's key
// (derived from its seed) or, on a token, under a data key wrapped by an AES key on the token, made and written
// (audited) before its first use. Which of the two is the provider's declared capability (sealing).

import { randomBytes } from 'node:crypto';
import { rpcError } from '../core/errors.js';
import { providerError, type HsmContext } from './context.js';
import { ProviderUnsupportedError } from './provider.js';
import { open as openSealed, purposeProblem, seal } from './seal.js';

/**
 * The key secrets at rest are sealed with (seal.ts): the keystore's (Locked while it is locked); on a token the
 * data key, unwrapped from the hsm sublevel, or made, wrapped and written (audited) before its first use.
 */
async function sealingKey(c: HsmContext, create: boolean): Promise<Uint8Array | undefined> {
  const p = c.need();
  if (p.capabilities.sealing === 'seed') return p.sealingKey!();
  if (p.capabilities.sealing !== 'wrapped-data-key') throw new ProviderUnsupportedError(`the ${p.kind} provider cannot seal secrets`);
  if (c.dataKey) return c.dataKey;
  return c.locks.run('secrets', async () => {
    if (c.dataKey) return c.dataKey;
    const stored = (await c.db.get('sk:data')) as { wrapped: string } | undefined;
    if (stored) return (c.dataKey = await p.unwrapDataKey!(Buffer.from(stored.wrapped, 'base64')));
    if (!create) return undefined;
    const fresh = randomBytes(32);
    const wrapped = await p.wrapDataKey!(fresh);
    // Durable before the first value sealed under it can be handed out.
    await c.record('secret', null, { made: 'data key for secrets at rest', provider: p.kind }, [
      { type: 'put', sublevel: c.db, key: 'sk:data', value: { wrapped: wrapped.toString('base64'), created: new Date().toISOString() } },
    ]);
    return (c.dataKey = fresh);
  });
}

/** HsmApi.sealSecret: the plaintext sealed for the purpose (seal.ts). */
export async function sealSecret(c: HsmContext, purpose: string, plaintext: Buffer): Promise<string> {
  const problem = purposeProblem(purpose);
  if (problem) throw rpcError('InvalidParams', problem);
  try {
    return seal((await sealingKey(c, true))!, purpose, plaintext);
  } catch (err) {
    throw providerError(err);
  }
}

/** HsmApi.openSecret: the plaintext, or InvalidParams when the value was not sealed here for this purpose, or was changed. */
export async function openSecret(c: HsmContext, purpose: string, sealed: string): Promise<Buffer> {
  const problem = purposeProblem(purpose);
  if (problem) throw rpcError('InvalidParams', problem);
  let key: Uint8Array | undefined;
  try {
    key = await sealingKey(c, false);
  } catch (err) {
    throw providerError(err);
  }
  const plain = key && openSealed(key, purpose, sealed);
  if (!plain)
    throw rpcError(
      'InvalidParams',
      `cannot open the sealed value for purpose '${purpose}': it was sealed for another purpose or under another keystore or token, or it was changed`,
    );
  return plain;
}
