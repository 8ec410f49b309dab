// Issue 26 item 8: the signing policy at the contract boundary, through the HSM room's api (hsmRoom.create over a
// real LevelDB and a real keystore), as the DLC and channel rooms call it. Contract keys land in their kind's group,
// so a policy on group:dlc bounds them; a signature with a contract context counts its spends_sat against
// max_amount_sat and velocity_24h_sat in one critical section (24 concurrent callers against a velocity limit sign
// exactly as many as fit); without a context a contract key's digest is raw signing; a context on a wallet key or of
// another kind is refused; the audit entry names kind, contract, counterparty, purpose and spends_sat.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import * as ecc from '@bitcoinerlab/secp256k1';
import * as bitcoin from 'bitcoinjs-lib';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { loadConfig } from '../../src/daemon/config.js';
import { optionGroups } from '../../src/daemon/options.js';
import { derToCompact } from '../../src/hsm/ecdsa.js';
import { hsmRoom } from '../../src/hsm/room.js';
import type { ContractSigning, HsmApi } from '../../src/hsm/api.js';
import type { HsmService } from '../../src/hsm/service.js';
import { EventBus } from '../../src/core/events.js';
import { RpcError } from '../../src/core/errors.js';
import { Store } from '../../src/store/store.js';
import { ROOT, tempDir } from '../helpers/daemon.js';

bitcoin.initEccLib(ecc);
const NET = bitcoin.networks.regtest;
const POLICY_DENIED = -32013;
const INVALID = -32602;

async function refused(p: Promise<unknown>, code: number, rule?: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof RpcError, String(err));
    assert.equal(err.code, code, err.message);
    if (rule) assert.equal((err.data as { rule?: string }).rule, rule, err.message);
    return true;
  });
}

describe('contract signatures under the signing policy (software keystore, via the room api)', () => {
  let dir: { path: string; remove: () => Promise<void> };
  let store: Store;
  let service: HsmService;
  let api: HsmApi;
  before(async () => {
    dir = await tempDir();
    const pf = join(dir.path, 'pass');
    await writeFile(pf, 'a passphrase for contracts\n', { mode: 0o600 });
    const config = loadConfig({
      argv: ['-regtest', `-datadir=${dir.path}`, '-hsm.provider=software', '-hsm.kdfcost=12', `-hsm.passphrasefile=${pf}`, '-hsm.policydelay=0'],
      groups: optionGroups([hsmRoom]),
    });
    await mkdir(config.netdir, { recursive: true });
    store = await Store.open(join(config.netdir, 'state'));
    const bus = new EventBus();
    bus.declare('hsm', hsmRoom.topics ?? []);
    const parts = await hsmRoom.create({
      config,
      log: pino({ level: 'silent' }),
      store,
      bus,
      metrics: new Registry(),
      version: 'test',
      use: () => undefined,
      packageDir: ROOT,
    });
    service = parts.service as HsmService;
    await service.open();
    api = parts.api as HsmApi;
  });
  after(async () => {
    await service?.close();
    await store?.close();
    await dir.remove();
  });

  const counterparty = `02${'ab'.repeat(32)}`;
  const ctx = (spends_sat: number, extra: Partial<ContractSigning> = {}): ContractSigning => ({
    kind: 'dlc',
    contract: 'c0ffee',
    counterparty,
    purpose: 'funding',
    spends_sat,
    ...extra,
  });

  it("contract keys go into their kind's group unless the caller names one", async () => {
    const dlc = await api.generateKey('dlc 0123456789abcdef funding', null);
    const sc = await api.generateKey('sc 0123456789abcdef funding', null);
    const named = await api.generateKey('payout', 'treasury', 'dlc');
    const explicit = await api.generateKey('other', null, 'channel');
    assert.deepEqual(
      await Promise.all([dlc, sc, named, explicit].map(async (k) => [(await service.key(k.id)).group, (await service.key(k.id)).contract_kind])),
      [
        ['dlc', 'dlc'],
        ['channel', 'channel'],
        ['treasury', 'dlc'],
        ['channel', 'channel'],
      ],
    );
  });

  it('a policy on group:dlc: contract signatures count spends_sat (per signature and over 24 h); without a context it is raw signing', async () => {
    const k = await api.generateKey('dlc aaaa funding', null);
    await service.setPolicy('group:dlc', { max_amount_sat: 50_000, velocity_24h_sat: 120_000 }, 'test');
    const digest = randomBytes(32);
    const sig = await api.signDigest(k.id, digest, 'dlc', ctx(40_000));
    assert.ok(secp256k1.verify(derToCompact(sig), digest, Buffer.from(k.public_key, 'hex'), { prehash: false, lowS: true }));
    await refused(api.signDigest(k.id, randomBytes(32), 'dlc'), POLICY_DENIED, 'raw_sign');
    await refused(api.signDigest(k.id, randomBytes(32), 'dlc', ctx(60_000)), POLICY_DENIED, 'max_amount_sat');
    await api.signDigest(k.id, randomBytes(32), 'dlc', ctx(40_000, { purpose: 'refund' }));
    await refused(api.signDigest(k.id, randomBytes(32), 'dlc', ctx(50_000)), POLICY_DENIED, 'velocity_24h_sat');
    // A signature that moves nothing away (a CET that pays this side) still signs.
    await api.signDigest(k.id, randomBytes(32), 'dlc', ctx(0, { purpose: 'cet' }));
    // Adaptor signatures of a contract's CETs: one rule check and one count for the call.
    const point = secp256k1.Point.BASE.multiply(7n).toBytes(true);
    const adaptors = await api.adaptorSignAll(k.id, [{ point: Buffer.from(point), digest: randomBytes(32) }], 'dlc', ctx(0, { purpose: 'cet' }));
    assert.equal(adaptors.length, 1);
    assert.equal(await service.policy.spentSince('group:dlc', Date.now() - 3600_000), 80_000);
    // The audit entries name the contract.
    const log = await service.audit.page(1, 1000);
    const signs = log.filter((e) => e.key === k.id && e.event === 'sign');
    assert.deepEqual(
      signs.map((e) => [e.detail.kind, e.detail.contract, e.detail.counterparty, e.detail.purpose, e.detail.spends_sat]),
      [
        ['dlc', 'c0ffee', counterparty, 'funding', 40_000],
        ['dlc', 'c0ffee', counterparty, 'refund', 40_000],
        ['dlc', 'c0ffee', counterparty, 'cet', 0],
        ['dlc', 'c0ffee', counterparty, 'cet', 0],
      ],
    );
    const denies = log.filter((e) => e.key === k.id && e.event === 'deny').map((e) => [e.detail.rule, e.detail.spends_sat ?? null]);
    assert.deepEqual(denies, [
      ['raw_sign', null],
      ['max_amount_sat', 60_000],
      ['velocity_24h_sat', 50_000],
    ]);
    assert.equal((await service.audit.verify()).ok, true);
  });

  it('24 concurrent contract signatures against a velocity limit: exactly as many as fit sign, each counted once', async () => {
    const k = await api.generateKey('race', 'race-group', 'channel');
    await service.setPolicy('group:race-group', { velocity_24h_sat: 100_000 }, 'test');
    const results = await Promise.allSettled(
      Array.from({ length: 24 }, () => api.signDigest(k.id, randomBytes(32), 'sc', ctx(10_000, { kind: 'channel', purpose: 'commitment' }))),
    );
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 10);
    for (const r of results.filter((x): x is PromiseRejectedResult => x.status === 'rejected'))
      assert.equal((r.reason as RpcError).data && (r.reason as { data: { rule: string } }).data.rule, 'velocity_24h_sat');
    assert.equal(await service.policy.spentSince('group:race-group', Date.now() - 3600_000), 100_000);
  });

  it("a contract's funding PSBT: the policy counts the context's spends_sat, not the shared output, and the entry names the contract", async () => {
    const coins = await service.generateKey('coins', 'secp256k1', 'wallet');
    await service.setPolicy('group:wallet', { max_amount_sat: 30_000 }, 'test');
    const script = bitcoin.payments.p2wpkh({ pubkey: Buffer.from(coins.public_key, 'hex'), network: NET }).output!;
    const prev = new bitcoin.Transaction();
    prev.addInput(randomBytes(32), 0);
    prev.addOutput(script, 100_000n);
    // The funding output (a 2-of-2 both sides hold) carries both collaterals: 90 000 sat, 25 000 of them this side's.
    const shared = bitcoin.payments.p2wsh({
      redeem: bitcoin.payments.p2ms({ m: 2, pubkeys: [Buffer.from(coins.public_key, 'hex'), Buffer.from(counterparty, 'hex')], network: NET }),
      network: NET,
    }).address!;
    const psbt = (): string => {
      const p = new bitcoin.Psbt({ network: NET });
      p.addInput({ hash: prev.getId(), index: 0, witnessUtxo: { script, value: 100_000n }, nonWitnessUtxo: prev.toBuffer() });
      p.addOutput({ address: shared, value: 90_000n });
      return p.toBase64();
    };
    await refused(api.signPsbt(psbt(), 'dlc'), POLICY_DENIED, 'max_amount_sat');
    const signed = await api.signPsbt(psbt(), 'dlc', ctx(25_000));
    assert.deepEqual(signed.signed, [0]);
    await refused(api.signPsbt(psbt(), 'dlc', ctx(35_000)), POLICY_DENIED, 'max_amount_sat');
    const entry = (await service.audit.page(1, 1000)).filter((e) => e.event === 'sign' && e.key === coins.id).at(-1)!;
    assert.deepEqual(
      [entry.detail.kind, entry.detail.contract, entry.detail.purpose, entry.detail.spends_sat, entry.detail.amount_sat],
      ['dlc', 'c0ffee', 'funding', 25_000, 25_000],
    );
  });

  it('a context on a wallet key, of another kind, or malformed is refused before signing', async () => {
    const wallet = await service.generateKey('wallet', 'secp256k1', null);
    await refused(api.signDigest(wallet.id, randomBytes(32), 'dlc', ctx(1)), POLICY_DENIED, 'contract_key');
    const k = await api.generateKey('dlc bbbb funding', null);
    await refused(api.signDigest(k.id, randomBytes(32), 'sc', ctx(1, { kind: 'channel' })), POLICY_DENIED, 'contract_kind');
    await refused(api.signDigest(k.id, randomBytes(32), 'dlc', ctx(-1)), INVALID);
    await refused(api.signDigest(k.id, randomBytes(32), 'dlc', ctx(1, { counterparty: 'not hex' })), INVALID);
    await refused(api.signDigest(k.id, randomBytes(32), 'dlc', ctx(1, { kind: 'swap' as never })), INVALID);
  });

  it("a channel key's derived secret is no signature: a policy without allow_raw_sign on group:channel does not refuse it", async () => {
    const k = await api.generateKey('sc cccc revocation', null);
    await service.setPolicy('group:channel', { velocity_24h_sat: 1_000_000 }, 'test');
    const a = await api.derivedSecret(k.id, 'per-commitment seed', 'sc');
    assert.equal(a.length, 32);
    await refused(api.tweakedSign(k.id, randomBytes(32), {}, 'sc'), POLICY_DENIED, 'raw_sign');
    await api.tweakedSign(k.id, randomBytes(32), {}, 'sc', ctx(0, { kind: 'channel', purpose: 'commitment' }));
  });
});
