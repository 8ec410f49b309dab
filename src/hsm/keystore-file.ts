// The software keystore's file: its format (a header naming the KDF and cipher, authenticated as associated data,
// and the seed record encrypted under scrypt(passphrase) with AES-256-GCM), read and checked, decrypted, and
// written atomically (mode 0600). The keystore (software.ts) holds what it decrypts; this file holds no secret.

import { createCipheriv, createDecipheriv, randomBytes, scrypt as scryptCb } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { replaceFileDurably } from '../core/files.js';
import { kdfPassword } from './passphrase.js';
import { ProviderError } from './provider.js';

const scrypt = promisify(scryptCb) as (pw: string, salt: Buffer, len: number, opts: { N: number; r: number; p: number; maxmem: number }) => Promise<Buffer>;
const FORMAT = 'anya-keystore';

export interface KeystoreHeader {
  format: typeof FORMAT;
  version: 1;
  kdf: { name: 'scrypt'; logN: number; r: number; p: number; salt: string; norm?: 'nfkd' };
  cipher: { name: 'aes-256-gcm'; iv: string; tag: string };
}
export interface KeystoreFile extends KeystoreHeader {
  data: string;
}
export interface KeystoreSecret {
  mnemonic: string;
  next: number;
  disabled: number[];
}

export async function readKeystoreFile(path: string): Promise<KeystoreFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ProviderError(`cannot read the keystore ${path} (${(err as NodeJS.ErrnoException).code}); create one with hsm.createkeystore`);
  }
  let f: KeystoreFile;
  try {
    f = JSON.parse(text) as KeystoreFile;
  } catch {
    throw new ProviderError(`the keystore ${path} is damaged (not JSON; truncated?)`);
  }
  if (
    f.format !== FORMAT ||
    f.version !== 1 ||
    f.kdf?.name !== 'scrypt' ||
    (f.kdf.norm !== undefined && f.kdf.norm !== 'nfkd') ||
    f.cipher?.name !== 'aes-256-gcm' ||
    typeof f.data !== 'string'
  ) {
    throw new ProviderError(`${path} is not an anyad keystore, or was changed`);
  }
  if (!(f.kdf.logN >= 10 && f.kdf.logN <= 22 && f.kdf.r >= 1 && f.kdf.r <= 32 && f.kdf.p >= 1 && f.kdf.p <= 16))
    throw new ProviderError(`the keystore's KDF parameters are out of range; refusing`);
  return f;
}

async function deriveKey(passphrase: string, h: KeystoreHeader): Promise<Buffer> {
  const N = 2 ** h.kdf.logN;
  return scrypt(kdfPassword(passphrase, h.kdf.norm), Buffer.from(h.kdf.salt, 'hex'), 32, {
    N,
    r: h.kdf.r,
    p: h.kdf.p,
    maxmem: 256 * N * h.kdf.r + 1024 * 1024,
  });
}

/** The seed record of a keystore file, or a ProviderError when the passphrase is wrong or the file was changed. */
export async function decryptKeystore(file: KeystoreFile, passphrase: string): Promise<KeystoreSecret> {
  const key = await deriveKey(passphrase, file);
  let plain: Buffer;
  try {
    const d = createDecipheriv('aes-256-gcm', key, Buffer.from(file.cipher.iv, 'hex'));
    d.setAAD(Buffer.from(JSON.stringify(header(file))));
    d.setAuthTag(Buffer.from(file.cipher.tag, 'hex'));
    plain = Buffer.concat([d.update(Buffer.from(file.data, 'base64')), d.final()]);
  } catch {
    // GCM cannot tell a wrong passphrase from a changed file; both mean: not unlocked, nothing touched.
    throw new ProviderError('cannot decrypt the keystore: wrong passphrase, or the file was changed');
  }
  const secret = JSON.parse(plain.toString('utf8')) as KeystoreSecret;
  plain.fill(0);
  return secret;
}

/**
 * Encrypts and writes atomically: a temp file (0600), fsync, rename, fsync of the directory. A crash or a failed
 * write leaves the old file whole. The file runs ahead of LevelDB only by a key index (generateKey writes `next`
 * before the service's batch registers the key): a batch that then fails leaves an index nobody was told of, which
 * the next start or unlock registers disabled (adoptOrphans in keys.ts), never a key in use twice.
 */
export async function writeKeystoreFile(
  file: string,
  secret: KeystoreSecret,
  passphrase: string,
  opts: { logN: number; norm: 'nfkd' | undefined; mustBeNew: boolean },
): Promise<void> {
  const { logN, norm, mustBeNew } = opts;
  if (mustBeNew) {
    const exists = await readFile(file).then(
      () => true,
      () => false,
    );
    if (exists) throw new ProviderError(`${file} already exists; anyad never overwrites a keystore`);
  }
  const hdr: KeystoreHeader = {
    format: FORMAT,
    version: 1,
    kdf: { name: 'scrypt', logN, r: 8, p: 1, salt: randomBytes(16).toString('hex'), ...(norm ? { norm } : {}) },
    cipher: { name: 'aes-256-gcm', iv: randomBytes(12).toString('hex'), tag: '' },
  };
  const key = await deriveKey(passphrase, hdr);
  const c = createCipheriv('aes-256-gcm', key, Buffer.from(hdr.cipher.iv, 'hex'));
  c.setAAD(Buffer.from(JSON.stringify(header(hdr))));
  const data = Buffer.concat([c.update(Buffer.from(JSON.stringify(secret))), c.final()]).toString('base64');
  const out: KeystoreFile = { ...hdr, cipher: { ...hdr.cipher, tag: c.getAuthTag().toString('hex') }, data };
  // (A full disk or an I/O error at any step: the old keystore is whole, no temp file is left, and the caller gets
  // the error as it is: nothing in memory moved, see generateKey and disableKey.)
  await replaceFileDurably(file, `${JSON.stringify(out, null, 1)}\n`);
}

/** The authenticated header: everything but the tag and the ciphertext, so no parameter can be changed unnoticed. */
function header(h: KeystoreHeader): unknown {
  return { format: h.format, version: h.version, kdf: h.kdf, cipher: { name: h.cipher.name, iv: h.cipher.iv } };
}
