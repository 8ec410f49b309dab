// PSBT signing with keys on a SoftHSM2 token, against the regtest node: P2WPKH, P2SH-P2WPKH and a P2WSH 2-of-2
// funded on the node, signed by the HSM, broadcast and confirmed; every policy rule at its edge (allowed at the
// limit, denied one past it), velocity surviving a restart; inputs without UTXO data refused; and a P2TR key-path
// signature (simulator provider) checked against BIP341's sighash.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as ecc from '@bitcoinerlab/secp256k1';
import * as bitcoin from 'bitcoinjs-lib';
import { schnorr } from '@noble/curves/secp256k1.js';
import { startDaemon, tempDir, type RunningDaemon } from '../helpers/daemon.js';
import { call, unixChannel, type Channel } from '../helpers/channel.js';
import { newWallet, startBcoin, type BcoinNode } from '../helpers/bcoin.js';
import { hasSoftHsm, makeToken, type Token } from '../helpers/softhsm.js';

bitcoin.initEccLib(ecc);
const NET = bitcoin.networks.regtest;
interface Utxo {
  txid: string;
  vout: number;
  value: bigint;
  script: Uint8Array;
  /** The whole previous transaction: segwit v0 inputs are signed only with it (CVE-2020-14199). */
  prevTx: Buffer;
}

/** Mines a block paying `address` (plus 100 more so it matures) and answers its coinbase output. */
async function coinbaseTo(node: BcoinNode, address: string): Promise<Utxo> {
  const [h] = await node.mine(1, address);
  await node.mine(100);
  const b = await node.rpc<{ tx: Array<{ txid: string; vout: Array<{ value: number; n: number; scriptPubKey: { hex: string } }> }> }>(
    'getblock',
    h,
    true,
    true,
  );
  const script = bitcoin.address.toOutputScript(address, NET);
  const out = b.tx[0]!.vout.find((o) => o.scriptPubKey.hex === Buffer.from(script).toString('hex'))!;
  const hex = await node.rpc<string>('getrawtransaction', b.tx[0]!.txid, false);
  return { txid: b.tx[0]!.txid, vout: out.n, value: BigInt(Math.round(out.value * 1e8)), script, prevTx: Buffer.from(hex, 'hex') };
}

function psbtFor(utxo: Utxo, outs: Array<{ address: string; value: bigint }>, extra: Record<string, unknown> = {}): string {
  const p = new bitcoin.Psbt({ network: NET });
  p.addInput({ hash: utxo.txid, index: utxo.vout, witnessUtxo: { script: utxo.script, value: utxo.value }, nonWitnessUtxo: utxo.prevTx, ...extra });
  for (const o of outs) p.addOutput(o);
  return p.toBase64();
}

describe('PSBT signing with a SoftHSM2 key on regtest', { skip: hasSoftHsm ? false : 'softhsm2 not installed' }, () => {
  let dir: { path: string; remove: () => Promise<void> };
  let node: BcoinNode;
  let token: Token;
  let d: RunningDaemon;
  let ch: Channel;
  let key: { id: string; addresses: { p2wpkh: string; p2sh_p2wpkh: string }; public_key: string };
  let utxo: Utxo;
  const args = (): string[] => [
    '-hsm.provider=pkcs11',
    `-hsm.pinfile=${token.pinFile}`,
    `-bitcoind.rpcport=${node.port}`,
    `-bitcoind.rpccookiefile=${node.cookieFile}`,
    '-bitcoind.pollinterval=100',
    '-hsm.policydelay=0',
  ];

  before(async () => {
    dir = await tempDir();
    node = await startBcoin(dir.path, { prefix: join(dir.path, 'chain') });
    token = await makeToken(join(dir.path, 'hsm'));
    d = await startDaemon(join(dir.path, 'anya'), { args: args(), env: { SOFTHSM2_CONF: token.conf } });
    ch = await unixChannel(d.socket);
    const k = await call<{ id: string }>(ch, 'hsm.generatekey', { label: 'hot', group: 'wallet' });
    key = await call(ch, 'hsm.getpubkey', { key: k.id });
    utxo = await coinbaseTo(node, key.addresses.p2wpkh);
  });
  after(async () => {
    ch?.close();
    await d?.kill();
    await node?.stop().catch(() => undefined);
    await dir.remove();
  });

  const BTC = 100_000_000n;
  const other = newWallet().address;
  const pay = (amount: bigint, fee = 2000n, to = other): string =>
    psbtFor(utxo, [
      { address: to, value: amount },
      { address: key.addresses.p2wpkh, value: utxo.value - amount - fee },
    ]);

  it('max_amount_sat: allowed at the limit, denied one satoshi past it (change does not count)', async () => {
    await call(ch, 'hsm.setpolicy', { subject: `key:${key.id}`, policy: { max_amount_sat: Number(BTC) } });
    const ok = await call<{ signed: number[]; amount_sat: number; fee_sat: number }>(ch, 'hsm.signpsbt', { psbt: pay(BTC) });
    assert.deepEqual(ok.signed, [0]);
    assert.equal(ok.amount_sat, Number(BTC));
    assert.equal(ok.fee_sat, 2000);
    const no = await ch.call('hsm.signpsbt', { psbt: pay(BTC + 1n) });
    assert.equal(no.error?.code, -32013);
    assert.deepEqual(no.error?.data, { rule: 'max_amount_sat', subject: `key:${key.id}` });
  });

  it('max_fee_sat and max_feerate_sat_vb at their edges', async () => {
    await call(ch, 'hsm.setpolicy', { subject: `key:${key.id}`, policy: { max_fee_sat: 2000 } });
    await call(ch, 'hsm.signpsbt', { psbt: pay(BTC, 2000n) });
    assert.equal(
      (await ch.call('hsm.signpsbt', { psbt: pay(BTC, 2001n) })).error?.data &&
        ((await ch.call('hsm.signpsbt', { psbt: pay(BTC, 2001n) })).error!.data as { rule: string }).rule,
      'max_fee_sat',
    );
    await call(ch, 'hsm.setpolicy', { subject: `key:${key.id}`, policy: {} });
    const rate = (await call<{ feerate_sat_vb: number }>(ch, 'hsm.signpsbt', { psbt: pay(BTC, 2000n) })).feerate_sat_vb;
    assert.ok(rate > 10 && rate < 20, `fee rate ${rate} sat/vB for 2000 sat on a 1-in 2-out P2WPKH`);
    await call(ch, 'hsm.setpolicy', { subject: `key:${key.id}`, policy: { max_feerate_sat_vb: rate } });
    await call(ch, 'hsm.signpsbt', { psbt: pay(BTC, 2000n) });
    const no = await ch.call('hsm.signpsbt', { psbt: pay(BTC, 2010n) });
    assert.equal((no.error?.data as { rule: string }).rule, 'max_feerate_sat_vb');
  });

  it('allowlist (and change_to_own_keys): own change always allowed, others only when listed', async () => {
    const friend = newWallet().address;
    await call(ch, 'hsm.setpolicy', { subject: 'group:wallet', policy: { allowlist: [friend] } });
    await call(ch, 'hsm.setpolicy', { subject: `key:${key.id}`, policy: {} });
    await call(ch, 'hsm.signpsbt', { psbt: pay(BTC, 2000n, friend) });
    const no = await ch.call('hsm.signpsbt', { psbt: pay(BTC, 2000n, other) });
    assert.deepEqual(no.error?.data, { rule: 'allowlist', subject: 'group:wallet' });
    await call(ch, 'hsm.setpolicy', { subject: 'group:wallet', policy: { change_to_own_keys: true } });
    const consolidation = psbtFor(utxo, [{ address: key.addresses.p2sh_p2wpkh, value: utxo.value - 2000n }]);
    assert.equal((await call<{ amount_sat: number }>(ch, 'hsm.signpsbt', { psbt: consolidation })).amount_sat, 0);
    assert.equal(((await ch.call('hsm.signpsbt', { psbt: pay(1000n) })).error?.data as { rule: string }).rule, 'change_to_own_keys');
    await call(ch, 'hsm.setpolicy', { subject: 'group:wallet', policy: {} });
  });

  it('velocity_24h_sat counts what was signed, survives a restart, and allows up to the limit', async () => {
    // Earlier tests signed too: the counter already holds their amounts. Leave room for 3 BTC more.
    const spent0 = (await call<{ spent_24h_sat: number }>(ch, 'hsm.getpolicy', { subject: `key:${key.id}` })).spent_24h_sat;
    const limit = spent0 + 3 * Number(BTC);
    const room = limit - spent0;
    await call(ch, 'hsm.setpolicy', { subject: `key:${key.id}`, policy: { velocity_24h_sat: limit } });
    await call(ch, 'hsm.signpsbt', { psbt: pay(BTC) });
    ch.close();
    await d.kill();
    d = await startDaemon(d.datadir, { args: args(), env: { SOFTHSM2_CONF: token.conf } });
    ch = await unixChannel(d.socket);
    const left = BigInt(room) - BTC;
    const no = await ch.call('hsm.signpsbt', { psbt: pay(left + 1n) });
    assert.equal((no.error?.data as { rule: string }).rule, 'velocity_24h_sat', JSON.stringify(no));
    await call(ch, 'hsm.signpsbt', { psbt: pay(left) });
    const after = (await call<{ spent_24h_sat: number }>(ch, 'hsm.getpolicy', { subject: `key:${key.id}` })).spent_24h_sat;
    assert.equal(after, limit);
    await call(ch, 'hsm.setpolicy', { subject: `key:${key.id}`, policy: {} });
    const audit = await call<Array<{ event: string; detail: { rule?: string } }>>(ch, 'hsm.audit', { from: 1, limit: 1000 });
    assert.ok(
      audit.some((e) => e.event === 'deny' && e.detail.rule === 'velocity_24h_sat'),
      'denials are audited',
    );
  });

  it('an input without UTXO data is refused', async () => {
    const p = new bitcoin.Psbt({ network: NET });
    p.addInput({ hash: utxo.txid, index: utxo.vout });
    p.addOutput({ address: other, value: 1000n });
    const r = await ch.call('hsm.signpsbt', { psbt: p.toBase64() });
    assert.equal(r.error?.code, -32602);
    assert.match(r.error!.message, /input 0 has no UTXO data/);
  });

  const spendAndConfirm = async (psbtB64: string): Promise<void> => {
    const signed = await call<{ psbt: string; signed: number[] }>(ch, 'hsm.signpsbt', { psbt: psbtB64 });
    assert.deepEqual(signed.signed, [0]);
    const p = bitcoin.Psbt.fromBase64(signed.psbt, { network: NET });
    p.finalizeAllInputs();
    const tx = p.extractTransaction();
    const { txid } = await call<{ txid: string }>(ch, 'chain.broadcast', [tx.toHex()]);
    assert.equal(txid, tx.getId());
    await node.mine(1);
    for (let i = 0; ; i++) {
      const got = await node.rpc<{ confirmations?: number }>('getrawtransaction', txid, true).catch(() => ({ confirmations: 0 }));
      if ((got.confirmations ?? 0) >= 1) break;
      assert.ok(i < 100, 'the node did not confirm the transaction (it rejected it)');
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  it('P2WPKH: signed by the token, broadcast, confirmed', async () => {
    await spendAndConfirm(pay(BTC));
  });

  it('P2SH-P2WPKH: signed by the token, broadcast, confirmed', async () => {
    const u = await coinbaseTo(node, key.addresses.p2sh_p2wpkh);
    const redeem = bitcoin.payments.p2wpkh({ pubkey: Buffer.from(key.public_key, 'hex'), network: NET }).output!;
    await spendAndConfirm(psbtFor(u, [{ address: other, value: u.value - 3000n }], { redeemScript: redeem }));
  });

  it('P2WSH 2-of-2 with two token keys: both sign, broadcast, confirmed', async () => {
    const k2 = await call<{ id: string; public_key: string }>(ch, 'hsm.generatekey', { label: 'cosigner' });
    const pubkeys = [key.public_key, k2.public_key].map((h) => Buffer.from(h, 'hex')).sort(Buffer.compare);
    const ms = bitcoin.payments.p2ms({ m: 2, pubkeys, network: NET });
    const wsh = bitcoin.payments.p2wsh({ redeem: ms, network: NET });
    const u = await coinbaseTo(node, wsh.address!);
    const signed = await call<{ psbt: string; signed: number[]; keys: string[] }>(ch, 'hsm.signpsbt', {
      psbt: psbtFor(u, [{ address: other, value: u.value - 5000n }], { witnessScript: ms.output }),
    });
    assert.deepEqual(signed.signed, [0]);
    const p = bitcoin.Psbt.fromBase64(signed.psbt, { network: NET });
    assert.equal(p.data.inputs[0]!.partialSig?.length, 2, 'both keys signed');
    p.finalizeAllInputs();
    const tx = p.extractTransaction();
    await call(ch, 'chain.broadcast', [tx.toHex()]);
    await node.mine(1);
    for (let i = 0; ; i++) {
      const got = await node.rpc<{ confirmations?: number }>('getrawtransaction', tx.getId(), true).catch(() => ({ confirmations: 0 }));
      if ((got.confirmations ?? 0) >= 1) break;
      assert.ok(i < 100, 'the node did not confirm the multisig spend');
      await new Promise((r) => setTimeout(r, 20));
    }
  });
});

describe('P2TR key path (simulator provider)', () => {
  it("the Schnorr signature is valid for BIP341's sighash under the tweaked output key", async () => {
    const dir = await tempDir();
    try {
      const d = await startDaemon(join(dir.path, 'a'), { args: ['-hsm.provider=simulator', '-nobitcoind.enable'] });
      const ch = await unixChannel(d.socket);
      const k = await call<{ id: string; public_key: string }>(ch, 'hsm.generatekey', { label: 'tr' });
      const info = await call<{ addresses: { p2tr: string } }>(ch, 'hsm.getpubkey', { key: k.id });
      const internal = Buffer.from(k.public_key, 'hex').subarray(1);
      const script = bitcoin.address.toOutputScript(info.addresses.p2tr, NET);
      const p = new bitcoin.Psbt({ network: NET });
      p.addInput({ hash: '22'.repeat(32), index: 0, witnessUtxo: { script, value: 50_000n }, tapInternalKey: internal });
      p.addOutput({ address: newWallet().address, value: 49_000n });
      const signed = await call<{ psbt: string; signed: number[] }>(ch, 'hsm.signpsbt', { psbt: p.toBase64() });
      assert.deepEqual(signed.signed, [0]);
      const back = bitcoin.Psbt.fromBase64(signed.psbt, { network: NET });
      assert.ok(back.data.inputs[0]!.tapKeySig, 'a key-path signature');
      assert.ok(back.validateSignaturesOfInput(0, (pub, msg, sig) => schnorr.verify(sig, msg, pub)));
      ch.close();
      await d.kill();
    } finally {
      await dir.remove();
    }
  });
});
