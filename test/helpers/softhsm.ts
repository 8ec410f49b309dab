// SoftHSM2 tokens made per test, with no CLI: a temp dir and conf file, SOFTHSM2_CONF set before C_Initialize,
// then C_InitToken and C_InitPIN. Tokens are found by label (slot ids are random).

import { createRequire } from 'node:module';
import { mkdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';
export const hasSoftHsm = existsSync(SOFTHSM_MODULE);

export interface Token {
  conf: string;
  label: string;
  pinFile: string;
  pin: string;
}

export async function makeToken(dir: string, label = 'anya', pin = '246810'): Promise<Token> {
  await mkdir(join(dir, 'tokens'), { recursive: true });
  const conf = join(dir, 'softhsm2.conf');
  await writeFile(conf, `directories.tokendir = ${join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  const pinFile = join(dir, 'pin');
  await writeFile(pinFile, `${pin}\n`, { mode: 0o600 });
  const pkcs11js = require('pkcs11js') as typeof import('pkcs11js');
  const before = process.env.SOFTHSM2_CONF;
  process.env.SOFTHSM2_CONF = conf;
  const p = new pkcs11js.PKCS11();
  p.load(SOFTHSM_MODULE);
  p.C_Initialize();
  try {
    const slot = p.C_GetSlotList(false).find((s) => !(p.C_GetTokenInfo(s).flags & pkcs11js.CKF_TOKEN_INITIALIZED))!;
    p.C_InitToken(slot, `so-${pin}`, label.padEnd(32));
    const initialized = p.C_GetSlotList(true).find((s) => p.C_GetTokenInfo(s).label.trim() === label)!;
    const s = p.C_OpenSession(initialized, pkcs11js.CKF_RW_SESSION | pkcs11js.CKF_SERIAL_SESSION);
    p.C_Login(s, pkcs11js.CKU_SO, `so-${pin}`);
    p.C_InitPIN(s, pin);
    p.C_Logout(s);
    p.C_CloseSession(s);
  } finally {
    p.C_Finalize();
    if (before === undefined) delete process.env.SOFTHSM2_CONF;
    else process.env.SOFTHSM2_CONF = before;
  }
  return { conf, label, pinFile, pin };
}
