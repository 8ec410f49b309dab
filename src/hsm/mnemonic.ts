// Recovery words typed back in (hsm.restorekeystore): normalised as BIP39 says (NFKD), then checked word by word
// against the English list and by the checksum the last word carries (BIP39 "Generating the mnemonic"). What is
// wrong is said by position and count only: the words themselves are the seed and never go into an error or a log.

import { validateMnemonic } from '@scure/bip39';
import { wordlist } from '@scure/bip39/wordlists/english.js';

/** BIP39 sentence lengths: 128..256 bits of entropy plus checksum, in 11-bit words. */
const LENGTHS = [12, 15, 18, 21, 24];

/** The mnemonic as BIP39 reads it: NFKD, single spaces, lower case (the English list is lower case). */
export function normaliseMnemonic(text: string): string {
  return text.normalize('NFKD').trim().toLowerCase().split(/\s+/u).join(' ');
}

/** Why a normalised mnemonic cannot be a BIP39 seed (positions and counts only), or undefined. */
export function mnemonicProblem(mnemonic: string): string | undefined {
  const words = mnemonic === '' ? [] : mnemonic.split(' ');
  if (!LENGTHS.includes(words.length)) return `the recovery words are ${words.length} words; a BIP39 mnemonic has 12, 15, 18, 21 or 24`;
  const known = new Set(wordlist);
  const unknown = words.flatMap((w, i) => (known.has(w) ? [] : [i + 1]));
  if (unknown.length > 0) return `word${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} of ${words.length} not in the BIP39 English word list`;
  if (!validateMnemonic(mnemonic, wordlist)) return `the BIP39 checksum of the ${words.length} words does not match: a word is wrong or out of order`;
  return undefined;
}
