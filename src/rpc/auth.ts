// Credentials for the WebSocket. Two kinds: the cookie (a random secret written 0600 at each start, removed at
// stop, role admin) and rpcauth users stored as salted HMAC-SHA256 hashes in the format of Bitcoin Core's
// rpcauth.py, plus the role each user has. Comparisons are constant-time; secrets never reach a log or an answer.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { ROLES, type Role } from '../core/roles.js';

export const COOKIE_USER = '__cookie__';

export interface RpcAuthUser {
  user: string;
  salt: string;
  hash: Buffer;
  role: Role;
}

export interface Identity {
  user: string;
  role: Role;
}

/** Checks one `rpcauth` value: `<user>:<salt>$<hmac-sha256 hex>:<role>`; returns an error message or undefined. */
export function checkRpcAuth(value: string): string | undefined {
  try {
    parseRpcAuth(value);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

export function parseRpcAuth(value: string): RpcAuthUser {
  const m = /^([^:$\s]+):([0-9a-fA-F]{16,128})\$([0-9a-fA-F]{64})(?::([a-z]+))?$/.exec(value);
  if (!m) throw new Error('expected <user>:<salt>$<hash>:<role> (the output of tools/rpcauth plus a role)');
  const role = m[4];
  if (role === undefined) throw new Error(`no role for user '${m[1]}': append :readonly, :user or :admin`);
  if (!(ROLES as readonly string[]).includes(role)) throw new Error(`unknown role '${role}' (readonly, user or admin)`);
  if (m[1] === COOKIE_USER) throw new Error(`the user name ${COOKIE_USER} is reserved for the cookie`);
  return { user: m[1]!, salt: m[2]!, hash: Buffer.from(m[3]!, 'hex'), role: role as Role };
}

/** Makes an rpcauth line for a user (what tools/rpcauth prints). */
export function makeRpcAuth(user: string, password: string, role: Role): string {
  const salt = randomBytes(16).toString('hex');
  const hash = createHmac('sha256', salt).update(password).digest('hex');
  return `${user}:${salt}$${hash}:${role}`;
}

export class Authenticator {
  private readonly users = new Map<string, RpcAuthUser>();
  private cookieSecret: Buffer | undefined;

  constructor(rpcauth: readonly string[]) {
    for (const line of rpcauth) {
      const u = parseRpcAuth(line);
      this.users.set(u.user, u);
    }
  }

  /** Creates a fresh cookie file (0600, atomically replacing an old one) and returns its path. */
  async writeCookie(path: string): Promise<void> {
    const secret = randomBytes(32).toString('hex');
    const tmp = `${path}.tmp`;
    await unlink(tmp).catch(() => undefined);
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(`${COOKIE_USER}:${secret}`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    this.cookieSecret = Buffer.from(secret);
  }

  /**
   * Checks a token as a client presents it: `__cookie__:<secret>` (the cookie file's content) or
   * `<user>:<password>`. Returns who it is, or undefined.
   */
  check(token: string): Identity | undefined {
    const colon = token.indexOf(':');
    if (colon <= 0 || token.length > 1024) return undefined;
    const user = token.slice(0, colon);
    const password = token.slice(colon + 1);
    if (user === COOKIE_USER) {
      if (!this.cookieSecret) return undefined;
      return safeEqual(Buffer.from(password), this.cookieSecret) ? { user: 'cookie', role: 'admin' } : undefined;
    }
    const u = this.users.get(user);
    // Compute the HMAC even for unknown users so the timing does not tell which names exist.
    const digest = createHmac('sha256', u?.salt ?? 'x')
      .update(password)
      .digest();
    if (!u) return undefined;
    return timingSafeEqual(digest, u.hash) ? { user: u.user, role: u.role } : undefined;
  }

  /** Reads credentials from an HTTP Authorization header (Bearer <token> or Basic base64(user:password)). */
  fromHeader(header: string | undefined): { presented: boolean; identity?: Identity } {
    if (!header) return { presented: false };
    const [scheme, value = ''] = header.split(/\s+/, 2);
    let token: string;
    if (/^bearer$/i.test(scheme ?? '')) token = value;
    else if (/^basic$/i.test(scheme ?? '')) token = Buffer.from(value, 'base64').toString('utf8');
    else return { presented: true };
    const identity = this.check(token);
    return identity ? { presented: true, identity } : { presented: true };
  }
}

function safeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
