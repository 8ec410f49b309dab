// The keystore's and the provider's lifecycle: opening the provider at start (a first keystore made from
// hsm.passphrasefile, the audit log's continuity checked, accepted states recorded, the readiness self-test),
// hsm.createkeystore, hsm.restorekeystore, hsm.unlock and hsm.lock. Whether there is a keystore to act on is the provider's declared
// capability (passphraseKeystore), not its class.

import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { rpcError, RpcError } from '../core/errors.js';
import type { HsmContext } from './context.js';
import { startProvider } from './factory.js';
import { adoptOrphans } from './keys.js';
import { ProviderError, type PassphraseKeystore } from './provider.js';
import { passphraseProblem } from './passphrase.js';
import { mnemonicProblem, normaliseMnemonic } from './mnemonic.js';

/** Who the start's own entries name. */
const STARTUP = 'startup (hsm.passphrasefile)';

/** Opens the provider and runs the readiness self-test: every usable active key signs and verifies a fresh digest. */
export async function openProvider(c: HsmContext): Promise<void> {
  c.provider = await startProvider(c.kinds, c.config, c.log, () => void c.record('lock', null, { reason: 'unlock timeout' }));
  const p = c.provider;
  const keystore = p.capabilities.passphraseKeystore;
  const created =
    keystore && !p.status().ready && !!c.config.str('hsm.passphrasefile') && !(await keystore.exists()) ? await firstKeystore(c, keystore) : false;
  const finding = await c.audit.load();
  if (finding) {
    c.log.warn(finding, 'HSM audit log rolled back or cut since it was last written; recorded in the log');
    await c.record('rollback', null, { ...finding });
  }
  if (created) await c.record('create', null, { caller: STARTUP });
  await recordAcceptedStates(c);
  const st = p.status();
  if (st.ready) {
    if (keystore) await c.record('unlock', null, { caller: STARTUP });
    await adoptOrphans(c);
    const keys = (await c.keys()).filter((k) => k.state === 'active' && k.provider === st.kind);
    for (const k of keys) {
      try {
        await p.healthCheck(k.handle);
      } catch (err) {
        throw new Error(`HSM self-test failed for key ${k.id} (${k.label}): ${(err as Error).message}`);
      }
    }
    c.log.info({ provider: st.kind, keys: keys.length }, 'HSM ready; self-test passed');
  } else c.log.info({ provider: st.kind, detail: st.detail }, 'HSM open but locked');
}

/**
 * A start with -acceptstate took a state that did not match its record, and the state keeps a note of it
 * (`accepted:<time>`: the problems found, the records counted); issue 34 wants the acceptance in the audit log.
 * Each note not yet recorded becomes one state_accepted entry, written in one batch with a mark in this sublevel
 * (`sa:<note>`), so it is recorded exactly once across restarts, and a crash between the two cannot happen. With
 * hsm.audit off nothing is marked: the notes are recorded once the log is kept.
 */
async function recordAcceptedStates(c: HsmContext): Promise<void> {
  if (!c.config.bool('hsm.audit')) return;
  for (const note of await c.store.notes()) {
    if (!note.key.startsWith('accepted:')) continue;
    const mark = `sa:${note.key}`;
    if ((await c.db.get(mark)) !== undefined) continue;
    const v = (note.value ?? {}) as { problems?: unknown; counts?: unknown };
    const problems = Array.isArray(v.problems) ? v.problems.map(String) : [];
    c.log.warn({ accepted: note.key.slice('accepted:'.length), problems }, 'HSM: a state accepted with -acceptstate; recorded in the audit log');
    await c.record('state_accepted', null, { time: note.key.slice('accepted:'.length), problems, counts: v.counts ?? {} }, [
      { type: 'put', sublevel: c.db, key: mark, value: { recorded: new Date().toISOString() } },
    ]);
  }
}

/**
 * First start with hsm.passphrasefile and no keystore: create it with that passphrase. The mnemonic is written
 * once to a 0600 file beside the keystore, and the log says where: write it down, then delete the file.
 */
async function firstKeystore(c: HsmContext, keystore: PassphraseKeystore): Promise<true> {
  const { readSecret } = await import('./secrets.js');
  const pass = await readSecret(c.config.str('hsm.passphrasefile')!, 'hsm.passphrasefile');
  const mnemonic = await keystore.create(pass);
  const file = join(c.config.netdir, 'keystore-mnemonic.txt');
  const fh = await open(file, 'wx', 0o600);
  try {
    await fh.writeFile(`${mnemonic}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  c.log.warn(
    { keystore: c.config.path('hsm.keystore'), mnemonic_file: file },
    'created a new keystore from hsm.passphrasefile; its recovery words are in mnemonic_file: write them down, then delete the file',
  );
  return true;
}

/** The provider's passphrase keystore, or Unsupported (a token, the simulator). */
function keystoreOf(c: HsmContext): PassphraseKeystore {
  const p = c.need();
  if (!p.capabilities.passphraseKeystore) throw rpcError('Unsupported', `the ${p.kind} provider has no keystore to lock or unlock`);
  return p.capabilities.passphraseKeystore;
}

export async function unlock(c: HsmContext, passphrase: string, timeoutSec: number, caller: string): Promise<void> {
  try {
    await keystoreOf(c).unlock(passphrase, timeoutSec);
  } catch (err) {
    if (err instanceof RpcError) throw err;
    await c.record('deny', null, { rule: 'unlock_failed', caller });
    // Whatever the cause (wrong passphrase, damaged file), the keystore stays locked.
    throw err instanceof ProviderError ? rpcError('Locked', err.message) : err;
  }
  await c.record('unlock', null, { timeout_s: timeoutSec, caller });
  await adoptOrphans(c);
}

export async function lock(c: HsmContext, caller: string): Promise<void> {
  keystoreOf(c).lock();
  await c.record('lock', null, { caller });
}

/** Creates the keystore; answers its recovery words, this once. */
export async function createKeystore(c: HsmContext, passphrase: string, caller: string): Promise<string> {
  const problem = passphraseProblem(passphrase);
  if (problem) throw rpcError('InvalidParams', problem);
  let mnemonic: string;
  try {
    mnemonic = await keystoreOf(c).create(passphrase);
  } catch (err) {
    throw err instanceof ProviderError ? rpcError('Conflict', err.message) : err;
  }
  await c.record('create', null, { caller });
  return mnemonic;
}

/**
 * Creates the keystore from recovery words written down before (a restore into a fresh datadir): the words are
 * checked (BIP39 list and checksum) before anything is written, an existing keystore is never overwritten, and the
 * words appear in no error, log or audit entry. The wallet then derives its accounts from the restored seed.
 */
export async function restoreKeystore(c: HsmContext, mnemonic: string, passphrase: string, caller: string): Promise<void> {
  const problem = passphraseProblem(passphrase);
  if (problem) throw rpcError('InvalidParams', problem);
  const words = normaliseMnemonic(mnemonic);
  const wrong = mnemonicProblem(words);
  if (wrong) throw rpcError('InvalidParams', wrong);
  const keystore = keystoreOf(c);
  if (await keystore.exists()) throw rpcError('Conflict', 'a keystore exists already; anyad never overwrites a keystore (restore into a fresh datadir)');
  try {
    await keystore.restore(words, passphrase);
  } catch (err) {
    throw err instanceof ProviderError ? rpcError('Conflict', err.message) : err;
  }
  await c.record('restore', null, { caller, words: words.split(' ').length });
}
