// Reading a secret named by config: a file path, or the name of a systemd credential ($CREDENTIALS_DIRECTORY).
// The secret's content never appears in an error message.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ProviderError } from './provider.js';

export async function readSecret(ref: string, key: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const path = ref.includes('/') ? ref : env.CREDENTIALS_DIRECTORY ? join(env.CREDENTIALS_DIRECTORY, ref) : undefined;
  if (!path) throw new ProviderError(`${key}=${ref}: no slash, so it names a systemd credential, but CREDENTIALS_DIRECTORY is not set`);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ProviderError(`${key}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const secret = text.replace(/\r?\n$/, '');
  if (secret.length === 0) throw new ProviderError(`${key}: ${path} is empty`);
  return secret;
}
