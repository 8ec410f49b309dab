// The keystore's passphrase rules, apart from the keystore itself: hsm.createkeystore checks a passphrase before it
// reaches any provider, and the keystore (software.ts) derives its key from what these rules give.

/**
 * Passphrases and Unicode (issue 26 item 10). The same text can reach anyad as different code points: "é" typed as
 * one code point (NFC, most keyboards) or as "e" and a combining accent (NFD, macOS file names, some input methods).
 * BIP39 settles this for its own passphrase by giving PBKDF2 the NFKD form, and so does this keystore
 * (files that say `norm: 'nfkd'`, every keystore made from now on): canonically equivalent spellings of a passphrase
 * are one passphrase and open the keystore alike. NFKD also folds compatibility characters into others (the "ﬁ"
 * ligature into "fi", full-width "Ａ" into "A", "²" into "2"), which would let a passphrase that looks different
 * open the keystore, silently; Bitcoin Core, for its part, normalises nothing and takes the bytes as typed. Here a
 * passphrase holding such characters is refused, saying why, when a keystore is created and when one is unlocked
 * (no keystore of this format can have one), so two passphrases open one keystore only when they are the same text.
 * Keystores written before (no `norm`) keep taking their passphrase as typed, as they were made.
 */
export function passphraseProblem(passphrase: string): string | undefined {
  if (passphrase.normalize('NFKC') !== passphrase.normalize('NFC'))
    return 'the passphrase holds compatibility characters (ligatures, full-width, superscript or similar forms) that Unicode NFKD folds into other characters, so a different-looking passphrase would open the keystore; use their plain forms';
  return undefined;
}

/** What scrypt is given: the NFKD form in keystores that say so (see passphraseProblem), else the string as typed. */
export const kdfPassword = (passphrase: string, norm: 'nfkd' | undefined): string => (norm === 'nfkd' ? passphrase.normalize('NFKD') : passphrase);
