// The recovery words' rules (hsm.restorekeystore), one by one: BIP39 normalisation (NFKD, spaces, case), the
// sentence lengths, words of the English list named by position only, and the checksum.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mnemonicProblem, normaliseMnemonic } from '../../src/hsm/mnemonic.js';

// The BIP39 test vector of entropy 00…00 (12 words) and its 24-word form.
const V12 = 'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about';
const V24 = `${'abandon '.repeat(23)}art`;

describe('recovery words', () => {
  it('normalises as BIP39 reads them', () => {
    assert.equal(normaliseMnemonic(`  ${V12.toUpperCase().replaceAll(' ', ' \u3000\t')}\n`), V12);
  });
  it('takes the test vectors', () => {
    assert.equal(mnemonicProblem(V12), undefined);
    assert.equal(mnemonicProblem(V24), undefined);
  });
  it('refuses a wrong length, unknown words by position, and a bad checksum, never echoing a word', () => {
    assert.match(mnemonicProblem('abandon abandon')!, /2 words; a BIP39 mnemonic has 12, 15, 18, 21 or 24/);
    assert.match(mnemonicProblem('')!, /0 words/);
    const bad = V12.split(' ');
    bad[3] = 'bitcoinz';
    bad[7] = 'satoshiz';
    const m = mnemonicProblem(bad.join(' '))!;
    assert.match(m, /words 4, 8 of 12 not in the BIP39 English word list/);
    assert.ok(!m.includes('bitcoinz') && !m.includes('abandon'));
    assert.match(mnemonicProblem(V12.replace('about', 'abandon'))!, /checksum of the 12 words does not match/);
  });
});
