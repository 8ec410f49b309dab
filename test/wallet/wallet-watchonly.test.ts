// Watch-only descriptors on a bcoin regtest node, against a real anyad with a software keystore: a hardware wallet's
// wpkh descriptor (keys the test holds, made with @scure/bip32) receives to its 3rd address, the coin is watch-only
// (listunspent says so, getbalance counts it apart), wallet.send never takes it, wallet.fundpsbt watchonly gives a
// PSBT the test signs with its own key and the node accepts; a 2-of-2 wsh(sortedmulti) descriptor receives too and
// its PSBT carries the witness script and both cosigners' origins; descriptors survive a restart; bad descriptors
// (checksum, a mainnet xpub on regtest, garbage, a range too wide, a range on an unranged descriptor) are refused.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { HDKey } from '@scure/bip32';
import * as bitcoin from 'bitcoinjs-lib';
import * as ecc from '@bitcoinerlab/secp256k1';
import { fund as fundExternal, newWallet, pay, startBcoin, type BcoinNode } from '../helpers/bcoin.js';
import { unixChannel, type Channel } from '../helpers/channel.js';
import { startDaemon, tempDir, type RunningDaemon } from '../helpers/daemon.js';
import { keystorePartyArgs } from '../helpers/keystore-party.js';
import { until } from '../helpers/until.js';

const NET = bitcoin.networks.regtest;
const TPUB = { private: 0x04358394, public: 0x043587cf };

interface Balance {
  confirmed_sat: number;
  unconfirmed_sat: number;
  total_sat: number;
  watchonly_sat: number;
}
interface Unspent {
  txid: string;
  vout: number;
  address: string;
  amount_sat: number;
  type: string;
  spendable: boolean;
  solvable: boolean;
  watch_only: boolean;
}

async function call<T>(ch: Channel, method: string, params?: unknown): Promise<T> {
  const r = await ch.call(method, params, undefined, 120_000);
  if (r.error) throw Object.assign(new Error(`${method}: ${r.error.code} ${r.error.message}`), { code: r.error.code });
  return r.result as T;
}

async function refused(ch: Channel, method: string, params: unknown, message: RegExp): Promise<void> {
  const r = await ch.call(method, params, undefined, 120_000);
  assert.ok(r.error, `${method} should be refused`);
  assert.equal(r.error.code, -32602, r.error.message);
  assert.match(r.error.message, message);
}

const fingerprintOf = (k: HDKey): string => k.fingerprint.toString(16).padStart(8, '0');

describe('wallet: watch-only descriptors (a hardware wallet, a 2-of-2 multisig)', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let node: BcoinNode;
  let d: RunningDaemon;
  let ch: Channel;
  let args: string[];
  // The "hardware wallet": keys the test holds.
  const hw = HDKey.fromMasterSeed(Buffer.alloc(32, 7), TPUB);
  const hwAccount = hw.derive("m/84'/1'/0'");
  const hwDesc = `wpkh([${fingerprintOf(hw)}/84h/1h/0h]${hwAccount.publicExtendedKey}/0/*)`;
  // The cosigners of the 2-of-2.
  const co = [HDKey.fromMasterSeed(Buffer.alloc(32, 8), TPUB), HDKey.fromMasterSeed(Buffer.alloc(32, 9), TPUB)];
  const msDesc = `wsh(sortedmulti(2,${co.map((k) => `[${fingerprintOf(k)}/48h/1h/0h/2h]${k.derive("m/48'/1'/0'/2'").publicExtendedKey}/0/*`).join(',')}))`;
  const balance = (): Promise<Balance> => call<Balance>(ch, 'wallet.getbalance');
  const synced = async (): Promise<void> => {
    const height = (await node.rpc<{ blocks: number }>('getblockchaininfo')).blocks;
    await until('anyad follows the tip', async () =>
      (await call<{ processed_height: number | null }>(ch, 'chain.getinfo')).processed_height === height ? true : undefined,
    );
  };
  /** Pays `sat`-ish (a coinbase less a fee) from an outside payer to `to`, confirmed. */
  const payTo = async (to: string): Promise<string> => {
    const w = newWallet();
    const coin = await fundExternal(node, w);
    const p = pay(w, coin, to);
    await node.send(p.hex);
    await node.mine(1, newWallet().address);
    await synced();
    return p.txid;
  };

  before(async () => {
    dir = await tempDir('anya-watchonly-');
    node = await startBcoin(dir.path);
    const pf = join(dir.path, 'pass');
    await writeFile(pf, 'watch-only test passphrase\n', { mode: 0o600 });
    args = keystorePartyArgs(node, pf, ['-wallet.fallbackfee=2']);
    d = await startDaemon(join(dir.path, 'a'), { args });
    ch = await unixChannel(d.socket);
  });

  after(async () => {
    ch?.close();
    await d?.kill();
    await node?.stop();
    await dir?.remove();
  });

  it('refuses bad descriptors, naming what is wrong', async () => {
    const good = (await call<Array<{ desc: string }>>(ch, 'wallet.listdescriptors'))[0]!.desc;
    const badSum = `${hwDesc}#${good.slice(-8) === 'aaaaaaaa' ? 'bbbbbbbb' : 'aaaaaaaa'}`;
    await refused(ch, 'wallet.importdescriptors', { requests: [{ desc: badSum }] }, /requests\[0\]: bad descriptor checksum/);
    const main = HDKey.fromMasterSeed(Buffer.alloc(32, 7));
    const xpubDesc = `wpkh([${fingerprintOf(main)}/84h/0h/0h]${main.derive("m/84'/0'/0'").publicExtendedKey}/0/*)`;
    await refused(ch, 'wallet.importdescriptors', { requests: [{ desc: hwDesc }, { desc: xpubDesc }] }, /requests\[1\]: wrong network: xpub… is a mainnet key/);
    await refused(ch, 'wallet.importdescriptors', { requests: [{ desc: 'garbage(1,2' }] }, /requests\[0\]: not a valid descriptor/);
    await refused(ch, 'wallet.importdescriptors', { requests: [{ desc: hwDesc, range: [0, 10_000] }] }, /over 10000 addresses/);
    const single = `wpkh(${Buffer.from(hwAccount.deriveChild(0).deriveChild(0).publicKey!).toString('hex')})`;
    await refused(ch, 'wallet.importdescriptors', { requests: [{ desc: single, range: 5 }] }, /not ranged/);
    await refused(ch, 'wallet.importdescriptors', { requests: [{ desc: `wpkh(${hw.privateExtendedKey}/0/*)` }] }, /private key/);
    // Nothing of a refused call was kept.
    assert.equal((await call<unknown[]>(ch, 'wallet.listdescriptors')).length, 4);
  });

  it('follows a hardware wallet descriptor: its 3rd address receives, the coin is watch-only and counted apart', async () => {
    const imported = await call<Array<{ success: boolean; id: string; desc: string }>>(ch, 'wallet.importdescriptors', {
      requests: [
        { desc: hwDesc, range: [0, 99], label: 'ledger' },
        { desc: hwDesc.replace('/0/*', '/1/*'), internal: true, label: 'ledger change' },
      ],
    });
    assert.equal(imported[0]!.success, true);
    assert.match(imported[0]!.desc, /#[a-z0-9]{8}$/);
    // The same descriptor with its checksum is accepted too (and is the same import).
    const again = await call<Array<{ id: string }>>(ch, 'wallet.importdescriptors', {
      requests: [{ desc: imported[0]!.desc, range: [0, 99], label: 'ledger' }],
    });
    assert.equal(again[0]!.id, imported[0]!.id);

    const third = bitcoin.payments.p2wpkh({ pubkey: hwAccount.deriveChild(0).deriveChild(2).publicKey!, network: NET }).address!;
    const before = await balance();
    await payTo(third);
    const b = await balance();
    const coin = (await call<Unspent[]>(ch, 'wallet.listunspent')).find((c) => c.address === third);
    assert.ok(coin, 'the payment to the 3rd address is followed');
    assert.equal(coin.watch_only, true);
    assert.equal(coin.spendable, false);
    assert.equal(coin.solvable, true);
    assert.equal(b.watchonly_sat, coin.amount_sat);
    assert.equal(b.total_sat, before.total_sat, 'not in the spendable balance');
    assert.equal(b.confirmed_sat, before.confirmed_sat);

    // wallet.send never spends it: the seed has no coins, so it is short of funds.
    await refused(ch, 'wallet.send', { outputs: [{ address: newWallet().address, amount_sat: 10_000 }], fee_rate: 2 }, /insufficient funds/);
    await refused(
      ch,
      'wallet.fundpsbt',
      { outputs: [{ address: newWallet().address, amount_sat: 10_000 }], fee_rate: 2, inputs: [{ txid: coin.txid, vout: coin.vout }] },
      /is watch-only/,
    );

    // fundpsbt watchonly: a PSBT the hardware wallet (the test) signs; the node accepts it.
    const to = newWallet().address;
    const f = await call<{ psbt: string; fee_sat: number; change_pos: number }>(ch, 'wallet.fundpsbt', {
      outputs: [{ address: to, amount_sat: 1_000_000 }],
      fee_rate: 2,
      watchonly: true,
    });
    const psbt = bitcoin.Psbt.fromBase64(f.psbt, { network: NET });
    assert.equal(psbt.inputCount, 1);
    const input = psbt.data.inputs[0]!;
    assert.ok(input.witnessUtxo && input.nonWitnessUtxo, 'witness UTXO and previous transaction');
    const origin = input.bip32Derivation![0]!;
    assert.equal(Buffer.from(origin.masterFingerprint).toString('hex'), fingerprintOf(hw));
    assert.match(origin.path, /^m\/84['h]\/1['h]\/0['h]\/0\/2$/);
    const key = hw.derive(origin.path.replace(/h/g, "'"));
    psbt.signInput(0, { publicKey: key.publicKey!, sign: (hash: Uint8Array) => ecc.sign(hash, key.privateKey!) });
    psbt.finalizeAllInputs();
    const tx = psbt.extractTransaction();
    await node.send(tx.toHex());
    await node.mine(1, newWallet().address);
    await synced();
    // The change went to the hardware wallet's own change chain (its internal descriptor): watch-only again.
    const change = Number(tx.outs[f.change_pos]!.value);
    assert.match(psbt.data.outputs[f.change_pos]!.bip32Derivation![0]!.path, /^m\/84'\/1'\/0'\/1\/0$/);
    await until('the watch-only coin is spent, its change followed', async () => ((await balance()).watchonly_sat === change ? true : undefined));
    assert.equal((await balance()).confirmed_sat, before.confirmed_sat);
    // listtransactions flags both (Core's involvesWatchonly): the payment to the hardware wallet and its spend.
    const items = (await call<{ items: Array<{ txid: string; involves_watchonly: boolean }> }>(ch, 'wallet.listtransactions', { count: 1000 })).items;
    assert.equal(items.find((t) => t.txid === coin.txid)?.involves_watchonly, true);
    assert.equal(items.find((t) => t.txid === tx.getId())?.involves_watchonly, true);
    assert.ok(
      items.filter((t) => t.txid !== coin.txid && t.txid !== tx.getId()).every((t) => !t.involves_watchonly),
      "the seed's own transactions are not flagged",
    );
  });

  it('follows a 2-of-2 wsh(sortedmulti) descriptor: its address receives, its PSBT carries the witness script and both origins', async () => {
    await call(ch, 'wallet.importdescriptors', { requests: [{ desc: msDesc, label: 'vault' }] });
    const keys = co.map((k) => Buffer.from(k.derive("m/48'/1'/0'/2'/0/0").publicKey!)).sort(Buffer.compare);
    const addr = bitcoin.payments.p2wsh({ redeem: bitcoin.payments.p2ms({ m: 2, pubkeys: keys, network: NET }), network: NET }).address!;
    const watchedBefore = (await balance()).watchonly_sat;
    const seedBefore = (await balance()).confirmed_sat;
    await payTo(addr);
    const coin = (await call<Unspent[]>(ch, 'wallet.listunspent')).find((c) => c.address === addr);
    assert.ok(coin, 'the payment to the multisig address is followed');
    assert.equal(coin.watch_only, true);
    assert.equal(coin.type, 'wsh');
    assert.equal((await balance()).watchonly_sat, watchedBefore + coin.amount_sat);

    const f = await call<{ psbt: string; change_pos: number }>(ch, 'wallet.fundpsbt', {
      outputs: [{ address: newWallet().address, amount_sat: 500_000 }],
      fee_rate: 2,
      watchonly: true,
      inputs: [{ txid: coin.txid, vout: coin.vout }],
    });
    const psbt = bitcoin.Psbt.fromBase64(f.psbt, { network: NET });
    const input = psbt.data.inputs[0]!;
    assert.ok(input.witnessScript, 'the witness script');
    assert.deepEqual(input.bip32Derivation!.map((x) => Buffer.from(x.masterFingerprint).toString('hex')).sort(), co.map(fingerprintOf).sort());
    // Both cosigners sign; the node takes it.
    for (const k of co) {
      const child = k.derive("m/48'/1'/0'/2'/0/0");
      psbt.signInput(0, { publicKey: child.publicKey!, sign: (hash: Uint8Array) => ecc.sign(hash, child.privateKey!) });
    }
    psbt.finalizeAllInputs();
    const tx = psbt.extractTransaction();
    await node.send(tx.toHex());
    // No change chain of the 2-of-2 was imported: the change is the seed's (never the hardware wallet's chain).
    await until('the multisig coin is seen spent', async () => ((await balance()).watchonly_sat === watchedBefore ? true : undefined));
    assert.equal((await balance()).unconfirmed_sat, Number(tx.outs[f.change_pos]!.value));
    assert.equal((await balance()).confirmed_sat, seedBefore);
  });

  it('keeps the imported descriptors across a restart', async () => {
    const watchedBefore = (await balance()).watchonly_sat;
    ch.close();
    await d.kill();
    d = await startDaemon(join(dir.path, 'a'), { args });
    ch = await unixChannel(d.socket);
    const descs = await call<Array<{ desc: string; watch_only: boolean; label: string | null }>>(ch, 'wallet.listdescriptors');
    assert.deepEqual(
      descs
        .filter((x) => x.watch_only)
        .map((x) => x.label)
        .sort(),
      ['ledger', 'ledger change', 'vault'],
    );
    assert.equal((await balance()).watchonly_sat, watchedBefore);
    // A payment to a later address of the hardware wallet is still found.
    const fifth = bitcoin.payments.p2wpkh({ pubkey: hwAccount.deriveChild(0).deriveChild(4).publicKey!, network: NET }).address!;
    await payTo(fifth);
    assert.ok((await call<Unspent[]>(ch, 'wallet.listunspent')).some((c) => c.address === fifth && c.watch_only));
  });
});
