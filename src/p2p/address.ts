// Peer addresses as Lightning writes them: <pubkey>@<host>:<port>, host an IPv4 address, [IPv6] or a name.

import { isIP } from 'node:net';

export interface PeerAddress {
  /** 66 hex, lower case. */
  pubkey: string;
  host: string;
  port: number;
}

const PUBKEY = /^0[23][0-9a-f]{64}$/;
const HOSTNAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/** Why a node key is not one (66 hex of a compressed point's prefix), or undefined. */
export function pubkeyProblem(pubkey: string): string | undefined {
  return PUBKEY.test(pubkey) ? undefined : `'${pubkey.slice(0, 80)}' is not a node key: expected 66 hex characters of a compressed public key (02 or 03 first)`;
}

/** Parses the address, or answers what is wrong with it. The pubkey is also checked to be a point by the caller. */
export function parsePeerAddress(text: string): PeerAddress | string {
  const at = text.indexOf('@');
  if (at < 0) return `'${text.slice(0, 120)}' is not <pubkey>@<host>:<port>: no '@'`;
  const pubkey = text.slice(0, at).toLowerCase();
  const problem = pubkeyProblem(pubkey);
  if (problem) return problem;
  const rest = text.slice(at + 1);
  const m = /^\[([0-9a-f:.]+)\]:(\d{1,5})$/i.exec(rest) ?? /^([^:[\]]+):(\d{1,5})$/.exec(rest);
  if (!m) return `'${rest.slice(0, 120)}' is not <host>:<port> (an IPv6 address goes in brackets: [::1]:9736)`;
  const host = m[1]!;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return `port ${m[2]} is out of range 1..65535`;
  if (rest.startsWith('[') ? isIP(host) !== 6 : isIP(host) !== 4 && !HOSTNAME.test(host)) return `'${host}' is not an IP address or host name`;
  return { pubkey, host, port };
}

export const formatHostPort = (host: string, port: number): string => (isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`);
