// Output descriptors for watch-only export (BIP380-386): the checksum exactly as Bitcoin Core computes it
// (src/script/descriptor.cpp, DescriptorChecksum: a BCH code over the input character set's groups), and the
// wpkh()/tr() descriptors of a keystore key with its key origin, so Bitcoin Core (importdescriptors) or Sparrow can
// watch what anyad signs.

const INPUT_CHARSET = '0123456789()[],\'/*abcdefgh@:$%{}IJKLMNOPQRSTUVWXYZ&+-.;<=>?!^_|~ijklmnopqrstuvwxyzABCDEFGH`#"\\ ';
const CHECKSUM_CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const GENERATOR = [0xf5dee51989n, 0xa9fdca3312n, 0x1bab10e32dn, 0x3706b1677an, 0x644d626ffdn];

function polymod(c: bigint, val: number): bigint {
  const c0 = c >> 35n;
  let out = ((c & 0x7ffffffffn) << 5n) ^ BigInt(val);
  for (let i = 0; i < 5; i++) if ((c0 >> BigInt(i)) & 1n) out ^= GENERATOR[i]!;
  return out;
}

/** The 8-character checksum of a descriptor (without '#'); throws on a character descriptors do not allow. */
export function descriptorChecksum(desc: string): string {
  let c = 1n;
  let cls = 0;
  let clscount = 0;
  for (const ch of desc) {
    const pos = INPUT_CHARSET.indexOf(ch);
    if (pos === -1) throw new Error(`descriptor has a character outside the descriptor set: ${JSON.stringify(ch)}`);
    c = polymod(c, pos & 31);
    cls = cls * 3 + (pos >> 5);
    if (++clscount === 3) {
      c = polymod(c, cls);
      cls = 0;
      clscount = 0;
    }
  }
  if (clscount > 0) c = polymod(c, cls);
  for (let j = 0; j < 8; j++) c = polymod(c, 0);
  c ^= 1n;
  let out = '';
  for (let j = 0; j < 8; j++) out += CHECKSUM_CHARSET[Number((c >> BigInt(5 * (7 - j))) & 31n)];
  return out;
}

export const withChecksum = (desc: string): string => `${desc}#${descriptorChecksum(desc)}`;

/** wpkh() (BIP84-style single-key P2WPKH) and tr() (BIP86 key path, x-only) for one key with its origin. */
export function keyDescriptors(fingerprint: string, path: string, publicKey: string): { wpkh: string; tr: string } {
  const origin = `[${fingerprint}/${path}]`;
  return { wpkh: withChecksum(`wpkh(${origin}${publicKey})`), tr: withChecksum(`tr(${origin}${publicKey.slice(2)})`) };
}
