// A client of RGB Lightning Node's HTTP API (RGB-Tools/rgb-lightning-node, openapi.yaml; errors as its
// src/error.rs APIErrorResponse: {"error": message, "code": HTTP status, "name": APIError variant}). Requests carry
// every field the node's request structs require (serde refuses a missing non-Option field with 422), and the
// bearer token when one is configured (src/auth.rs: "Authorization: Bearer <biscuit>").

import { readFile } from 'node:fs/promises';

/** The node answered with an APIError body (or another HTTP error). */
export class RgbApiError extends Error {
  override name = 'RgbApiError';
  constructor(
    /** The APIError variant, e.g. LockedNode, InsufficientAssets; "HTTP <status>" when the body had none. */
    readonly kind: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The node could not be reached, or did not answer in time. */
export class RgbUnreachable extends Error {
  override name = 'RgbUnreachable';
}

/** Most bytes of one answer anyad reads (a list of transfers of a busy asset is the largest). */
const MAX_ANSWER = 32 * 1024 * 1024;

export interface RgbClientSettings {
  url: string;
  tokenFile?: string | undefined;
  timeoutMs: number;
}

export class RgbClient {
  private token: string | undefined;
  private readonly base: string;

  constructor(private readonly settings: RgbClientSettings) {
    this.base = settings.url.replace(/\/+$/, '');
  }

  /** Re-reads the token file (at each connect: a rotated token takes effect without a restart). */
  async loadToken(): Promise<void> {
    if (!this.settings.tokenFile) return;
    const text = (await readFile(this.settings.tokenFile, 'utf8')).trim();
    if (!/^[A-Za-z0-9_=+/.-]{1,8192}$/.test(text)) throw new Error(`rgb.tokenfile ${this.settings.tokenFile} does not hold a token`);
    this.token = text;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body?: Record<string, unknown>): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  private async request<T>(method: 'GET' | 'POST', path: string, body?: Record<string, unknown>): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.settings.timeoutMs),
        redirect: 'error',
      });
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      const why = e.name === 'TimeoutError' ? `no answer in ${this.settings.timeoutMs} ms` : (e.cause?.code ?? e.cause?.message ?? e.message);
      throw new RgbUnreachable(`RGB node at ${this.base} unreachable: ${why}`);
    }
    const text = await readBounded(res);
    let parsed: unknown;
    try {
      parsed = text === '' ? {} : JSON.parse(text);
    } catch {
      if (res.ok) throw new RgbApiError('BadAnswer', res.status, `${path} answered something that is not JSON`);
      parsed = undefined;
    }
    if (!res.ok) {
      const b = parsed as { error?: unknown; name?: unknown } | undefined;
      const kind = typeof b?.name === 'string' ? b.name : `HTTP ${res.status}`;
      const message = typeof b?.error === 'string' ? b.error.slice(0, 500) : `${path} answered HTTP ${res.status}`;
      throw new RgbApiError(kind, res.status, message);
    }
    return parsed as T;
  }
}

async function readBounded(res: Response): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? 0);
  if (declared > MAX_ANSWER) {
    await res.body?.cancel();
    throw new RgbApiError('BadAnswer', res.status, `the RGB node's answer is larger than ${MAX_ANSWER} bytes`);
  }
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const c of res.body as unknown as AsyncIterable<Uint8Array>) {
    size += c.byteLength;
    if (size > MAX_ANSWER) throw new RgbApiError('BadAnswer', res.status, `the RGB node's answer is larger than ${MAX_ANSWER} bytes`);
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString('utf8');
}
