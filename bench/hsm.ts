// HSM benchmarks, each against raw pkcs11js on the same SoftHSM2 token in the same run:
//  - hsm.sign over the Unix socket (the full RPC path) and the provider in-process, against C_SignInit+C_Sign
//    (target: RPC p50 < 2 ms and <= 2x raw plus transport);
//  - the software provider's ECDSA sign p50;
//  - signing a 10-input P2WPKH PSBT through the provider.

import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as bitcoin from 'bitcoinjs-lib';
import { Pkcs11Provider } from '../src/hsm/pkcs11.js';
import { SoftwareProvider } from '../src/hsm/software.js';
import { planPsbt, signPlanned } from '../src/hsm/psbt.js';
import { AnyaClient } from '../src/client/index.js';
import { makeToken, SOFTHSM_MODULE, hasSoftHsm } from '../test/helpers/softhsm.js';
import { spawn } from 'node:child_process';
import { inTurns } from './turns.js';
import { latency, r3 } from './measure.js';

const require = createRequire(import.meta.url);
const ROOT = new URL('../../', import.meta.url).pathname;
async function time(n: number, f: () => Promise<unknown> | unknown): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await f();
    out.push(performance.now() - t);
  }
  return out;
}

export async function benchHsm(results: Record<string, unknown>): Promise<void> {
  if (!hasSoftHsm) {
    console.log(`hsm: ${SOFTHSM_MODULE} missing; skipped`);
    return;
  }
  const N = 500;
  const dir = await mkdtemp(join(tmpdir(), 'anya-bench-hsm-'));
  try {
    const token = await makeToken(join(dir, 'hsm'));
    // 1. raw pkcs11js on the token
    process.env.SOFTHSM2_CONF = token.conf;
    const provider = new Pkcs11Provider({ module: SOFTHSM_MODULE, tokenLabel: token.label, pin: async () => token.pin });
    await provider.initialize();
    const key = await provider.generateKey('bench', 'secp256k1');
    const pkcs11js = require('pkcs11js') as typeof import('pkcs11js');
    const p = new pkcs11js.PKCS11();
    p.load(SOFTHSM_MODULE);
    // the provider already initialized the library in this process; a second handle shares it
    const slot = p.C_GetSlotList(true).find((s) => p.C_GetTokenInfo(s).label.trim() === token.label)!;
    const s = p.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
    p.C_FindObjectsInit(s, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
      { type: pkcs11js.CKA_ID, value: Buffer.from(key.handle, 'hex') },
    ]);
    const priv = p.C_FindObjects(s)!;
    p.C_FindObjectsFinal(s);
    const digest = randomBytes(32);
    const raw = await time(N, () => {
      p.C_SignInit(s, { mechanism: pkcs11js.CKM_ECDSA }, priv);
      return p.C_Sign(s, digest, Buffer.alloc(64));
    });
    const inproc = await time(N, () => provider.sign(key.handle, digest, 'ecdsa'));
    await provider.close();
    delete process.env.SOFTHSM2_CONF;

    // 2. hsm.sign over the Unix socket of two real anyads on the same token, one with the audit log (the default:
    // one synced LevelDB batch and one synced head-file write per commit) and one without, both running at once and
    // measured in alternating rounds, so a shift in the shared machine's speed falls on both alike.
    const rpcRuns: Record<string, number[]> = { audited: [], unaudited: [] };
    const concurrent: Record<string, number> = {};
    let uptime: number[] = [];
    const daemons = await Promise.all(
      [true, false].map(async (audit) => {
        const dd = join(dir, `anya-${audit}`);
        const proc = spawn(
          process.execPath,
          [
            join(ROOT, 'dist/bin/anyad.js'),
            '-regtest',
            `-datadir=${dd}`,
            '-norpcws',
            '-nobitcoind.enable',
            '-hsm.provider=pkcs11',
            `-hsm.pinfile=${token.pinFile}`,
            '-rpcratelimit=1000000',
            audit ? '-hsm.audit' : '-nohsm.audit',
          ],
          { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, SOFTHSM2_CONF: token.conf } },
        );
        await new Promise<void>((resolve, reject) => {
          proc.stdout!.on('data', (c: Buffer) => c.toString().includes('anyad ready') && resolve());
          proc.once('exit', (c) => reject(new Error(`anyad exited ${c}`)));
        });
        const socket = join(dd, 'regtest', 'anya.sock');
        const client = await AnyaClient.connect({ socket });
        const k = await client.call<{ id: string }>('hsm.generatekey', { label: 'rpc' });
        return { audit, proc, socket, client, key: k.id };
      }),
    );
    const hex = digest.toString('hex');
    const ROUNDS = 10;
    const signs = (d: (typeof daemons)[number]) => () => time(N / ROUNDS, () => d.client.call('hsm.sign', { key: d.key, digest: hex }));
    const turns = await inTurns(ROUNDS, signs(daemons[0]!), signs(daemons[1]!));
    rpcRuns.audited = turns.subject.flat();
    rpcRuns.unaudited = turns.baseline.flat();
    uptime = await time(N, () => daemons[1]!.client.call('uptime'));
    for (const d of daemons) {
      // 16 callers at once, each on its own key (no shared policy lock): audited, their entries share commits.
      const keys = await Promise.all(Array.from({ length: 16 }, (_, i) => d.client.call<{ id: string }>('hsm.generatekey', { label: `c${i}` })));
      const callers = await Promise.all(keys.map(() => AnyaClient.connect({ socket: d.socket })));
      let signed = 0;
      const until = performance.now() + 2000;
      const t0 = performance.now();
      await Promise.all(
        callers.map(async (c, i) => {
          while (performance.now() < until) {
            await c.call('hsm.sign', { key: keys[i]!.id, digest: hex });
            signed++;
          }
        }),
      );
      concurrent[d.audit ? 'audited' : 'unaudited'] = Math.round(signed / ((performance.now() - t0) / 1000));
      await Promise.all(callers.map((c) => c.close()));
    }
    for (const d of daemons) {
      await d.client.close();
      const done = new Promise((r) => d.proc.once('exit', r));
      d.proc.kill('SIGTERM');
      await done;
    }
    const rpc = rpcRuns.unaudited!;

    // 3. software provider
    const sw = new SoftwareProvider({});
    await sw.initialize();
    const swKey = await sw.generateKey('b', 'secp256k1');
    const soft = await time(N, () => sw.sign(swKey.handle, digest, 'ecdsa'));
    const softSchnorr = await time(N, () => sw.sign(swKey.handle, digest, 'schnorr'));

    // 4. a 10-input P2WPKH PSBT through the software provider (the signing path hsm.signpsbt uses)
    const pub = Buffer.from(swKey.publicKey, 'hex');
    const script = bitcoin.payments.p2wpkh({ pubkey: pub, network: bitcoin.networks.regtest }).output!;
    const signingKey = { id: 'b', publicKey: pub, schnorr: true, sign: (d: Uint8Array, sc: 'ecdsa' | 'schnorr') => sw.sign(swKey.handle, d, sc) };
    const psbtTimes = await time(20, async () => {
      // Every segwit v0 input carries its previous transaction (anyad verifies amounts against it).
      const prev = new bitcoin.Transaction();
      prev.addInput(randomBytes(32), 0);
      for (let i = 0; i < 10; i++) prev.addOutput(script, 100_000n);
      const ps = new bitcoin.Psbt({ network: bitcoin.networks.regtest });
      for (let i = 0; i < 10; i++) ps.addInput({ hash: prev.getId(), index: i, witnessUtxo: { script, value: 100_000n }, nonWitnessUtxo: prev.toBuffer() });
      ps.addOutput({ script, value: 990_000n });
      const plan = planPsbt(ps.toBase64(), bitcoin.networks.regtest, [signingKey]);
      await signPlanned(plan, bitcoin.networks.regtest);
    });

    const rawS = latency(raw);
    const rpcS = latency(rpc);
    const upS = latency(uptime);
    const row = {
      raw_pkcs11_sign: rawS,
      provider_in_process: latency(inproc),
      rpc_hsm_sign_unix: rpcS,
      rpc_hsm_sign_unix_audited: latency(rpcRuns.audited!),
      audit_cost_ratio_p50: r3(latency(rpcRuns.audited!).p50_ms / rpcS.p50_ms),
      concurrent_16: { audited_per_s: concurrent.audited!, unaudited_per_s: concurrent.unaudited!, ratio: r3(concurrent.audited! / concurrent.unaudited!) },
      rpc_uptime_unix: upS,
      ratio_rpc_to_raw_plus_transport: r3(rpcS.p50_ms / (rawS.p50_ms + upS.p50_ms)),
      software_ecdsa: latency(soft),
      software_schnorr: latency(softSchnorr),
      psbt_10_inputs_software: latency(psbtTimes),
    };
    results.hsm = row;
    console.log(
      `hsm.sign over unix: p50 ${rpcS.p50_ms} ms p99 ${rpcS.p99_ms} ms without audit, p50 ${row.rpc_hsm_sign_unix_audited.p50_ms} ms p99 ${row.rpc_hsm_sign_unix_audited.p99_ms} ms with the audit log (target p50 < 2) | in-process provider p50 ${row.provider_in_process.p50_ms} ms | raw C_SignInit+C_Sign p50 ${rawS.p50_ms} ms | uptime RPC p50 ${upS.p50_ms} ms | ratio to raw+transport ${row.ratio_rpc_to_raw_plus_transport} (target <= 2)`,
    );
    console.log(
      `hsm.sign, 16 callers on 16 keys: ${concurrent.audited}/s with the audit log (group commit) vs ${concurrent.unaudited}/s without | ratio ${row.concurrent_16.ratio}`,
    );
    console.log(
      `software provider: ECDSA p50 ${row.software_ecdsa.p50_ms} ms, Schnorr p50 ${row.software_schnorr.p50_ms} ms | 10-input PSBT p50 ${row.psbt_10_inputs_software.p50_ms} ms`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
