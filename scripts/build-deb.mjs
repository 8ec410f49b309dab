#!/usr/bin/env node
// Builds Debian packages of anyad (dpkg-deb), for amd64 and arm64: the shipped build (dist/bin, models) and the
// production node_modules under /opt/anya-core with its own Node 24 runtime (from the npm registry's
// node-linux-<arch> package, so the distribution's nodejs, older on Raspberry Pi OS, does not matter), /usr/bin/anyad
// and /usr/bin/anya-cli, the systemd unit, sysusers and tmpfiles entries, /etc/anyad/anya.conf as a conffile, and a
// postinst that creates the user and enables nothing. Native files of other platforms are left out (the npm
// packages carry prebuilt binaries for every platform). Then each package is checked with lintian (errors fail).
// Usage: npm run deb [-- amd64|arm64 ...] (default both); packages go to dist/deb/. Plain JavaScript.

import { spawnSync } from 'node:child_process';
import { chmodSync, closeSync, cpSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { fetchNode, installProduction, NODE_ARCH } from './lib/node-runtime.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const say = (s) => process.stderr.write(`[deb] ${s}\n`);
const die = (s) => {
  say(`FAIL ${s}`);
  process.exit(1);
};
const run = (cmd, args, opts = {}) => spawnSync(cmd, args, { stdio: 'inherit', ...opts }).status ?? 1;
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const version = `${pkg.version}-1`;
// The maintainer as Debian tools take it (DEBFULLNAME, DEBEMAIL), else the author of the commit being packaged.
const maintainer =
  process.env.DEBEMAIL && process.env.DEBFULLNAME
    ? `${process.env.DEBFULLNAME} <${process.env.DEBEMAIL}>`
    : spawnSync('git', ['log', '-1', '--format=%an <%ae>'], { cwd: root, encoding: 'utf8' }).stdout.trim();
if (!/^[^<>]+ <[^<>@\s]+@[^<>\s]+>$/.test(maintainer)) die('no maintainer: set DEBFULLNAME and DEBEMAIL (or run in the git checkout)');
const arches = process.argv.slice(2).length ? process.argv.slice(2) : ['amd64', 'arm64'];
for (const a of arches) if (!(a in NODE_ARCH)) die(`unknown architecture ${a} (amd64 or arm64)`);
if (!existsSync(join(root, 'dist', 'bin', 'anyad.js'))) die('dist/bin/anyad.js is missing: run `npm run build` first');
if (arches.includes('arm64') && spawnSync('sh', ['-c', 'command -v aarch64-linux-gnu-g++']).status !== 0)
  die('the arm64 package needs g++-aarch64-linux-gnu (apt-get install g++-aarch64-linux-gnu) to cross-compile pkcs11js and unix-dgram');

/** ELF machine numbers (e_machine) of each architecture. */
const ELF_MACHINE = { amd64: 0x3e, arm64: 0xb7 };
const NATIVE = /\.(node|so(\.\d+)*|dylib|dll|exe)$/;

/** Removes native files that are not ELF objects for `arch` (other platforms' prebuilds); returns how many. */
function pruneForeign(dir, arch) {
  let removed = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) removed += pruneForeign(p, arch);
    else if (e.isFile() && NATIVE.test(e.name)) {
      const head = Buffer.alloc(20);
      const fd = openSync(p, 'r');
      readSync(fd, head, 0, 20, 0);
      closeSync(fd);
      const elf = head.readUInt32BE(0) === 0x7f454c46;
      if (!elf || head.readUInt16LE(18) !== ELF_MACHINE[arch]) {
        rmSync(p);
        removed++;
      }
    }
  }
  return removed;
}

/**
 * What a package needs at run time only: no dot files (linter configs, .npmignore, CI settings), no intermediate
 * build objects; native addons are libraries, not programs (0644).
 */
function tidy(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.name.startsWith('.') || (e.isDirectory() && (e.name === 'obj.target' || e.name === '.deps'))) rmSync(p, { recursive: true, force: true });
    else if (e.isDirectory()) tidy(p);
    else if (e.isFile() && e.name.endsWith('.node')) chmodSync(p, 0o644);
  }
}

function duSize(dir) {
  let kb = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) kb += duSize(p);
    else if (e.isFile()) kb += Math.ceil(statSync(p).size / 1024);
  }
  return kb;
}

function write(path, text, mode = 0o644) {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  chmodSync(path, mode);
}

const out = join(root, 'dist', 'deb');
mkdirSync(out, { recursive: true });
const built = [];
for (const arch of arches) {
  const nodeArch = NODE_ARCH[arch];
  const cacheDir = join(root, '.cache', nodeArch === 'x64' ? 'node24' : 'arm64');
  const nodeDir = fetchNode(nodeArch, 24, cacheDir, say);
  if (!nodeDir) die(`node-linux-${nodeArch}@24 could not be fetched from the npm registry`);
  const tree = join(cacheDir, nodeArch === 'x64' ? 'prod-tree' : 'tree');
  if (!installProduction(root, tree, nodeArch, nodeDir, say)) die(`npm ci for ${arch} failed`);

  const stage = join(root, '.cache', 'deb', arch);
  rmSync(stage, { recursive: true, force: true });
  const opt = join(stage, 'opt', 'anya-core');
  mkdirSync(opt, { recursive: true });
  cpSync(join(tree, 'node_modules'), join(opt, 'node_modules'), { recursive: true });
  cpSync(join(root, 'dist', 'bin'), join(opt, 'dist', 'bin'), { recursive: true });
  cpSync(join(root, 'models'), join(opt, 'models'), { recursive: true });
  for (const f of ['package.json', 'README.md', 'anya.conf.example']) cpSync(join(root, f), join(opt, f));
  mkdirSync(join(opt, 'node', 'bin'), { recursive: true });
  cpSync(join(nodeDir, 'bin', 'node'), join(opt, 'node', 'bin', 'node'));
  cpSync(join(nodeDir, 'LICENSE'), join(opt, 'node', 'LICENSE'));
  const pruned = pruneForeign(join(opt, 'node_modules'), arch);
  tidy(join(opt, 'node_modules'));
  say(`${arch}: left out ${pruned} native files of other platforms`);

  const wrapper = (entry) =>
    `#!/bin/sh\n# anya-core's ${entry}, on the Node runtime the package carries.\nexec /opt/anya-core/node/bin/node /opt/anya-core/dist/bin/${entry}.js "$@"\n`;
  write(join(stage, 'usr', 'bin', 'anyad'), wrapper('anyad'), 0o755);
  write(join(stage, 'usr', 'bin', 'anya-cli'), wrapper('anya-cli'), 0o755);
  const unit = readFileSync(join(root, 'systemd', 'anyad.service'), 'utf8').replace(
    'ExecStart=/usr/bin/node /opt/anya-core/dist/bin/anyad.js',
    'ExecStart=/usr/bin/anyad',
  );
  if (!unit.includes('ExecStart=/usr/bin/anyad ')) die('systemd/anyad.service: ExecStart is not the expected one');
  write(join(stage, 'lib', 'systemd', 'system', 'anyad.service'), unit);
  write(join(stage, 'usr', 'lib', 'sysusers.d', 'anyad.conf'), readFileSync(join(root, 'systemd', 'anyad.sysusers'), 'utf8'));
  write(
    join(stage, 'usr', 'lib', 'tmpfiles.d', 'anyad.conf'),
    '# The state directory and the configuration directory, owned as the unit expects them (systemd makes them too).\nd /var/lib/anyad 0750 anyad anyad -\nd /etc/anyad 0750 root anyad -\n',
  );
  write(join(stage, 'etc', 'anyad', 'anya.conf'), readFileSync(join(root, 'anya.conf.example'), 'utf8'));
  const doc = join(stage, 'usr', 'share', 'doc', 'anya-core');
  write(
    join(doc, 'copyright'),
    `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: anya-core\n\nFiles: *\nCopyright: anya-core developers\nLicense: ${pkg.license ?? 'MIT'}\n\nFiles: opt/anya-core/node/*\nCopyright: Node.js contributors\nLicense: MIT\n See /opt/anya-core/node/LICENSE (Node.js and the libraries it bundles).\n\nFiles: opt/anya-core/node_modules/*\nCopyright: the authors of each package\nLicense: various\n Each package's license is in its directory under /opt/anya-core/node_modules.\n`,
  );
  const changelog = `anya-core (${version}) unstable; urgency=medium\n\n  * Package of anya-core ${pkg.version}.\n\n -- ${maintainer}  ${new Date(0).toUTCString().replace('GMT', '+0000')}\n`;
  mkdirSync(doc, { recursive: true });
  writeFileSync(join(doc, 'changelog.Debian.gz'), gzipSync(changelog, { level: 9 }));
  // /opt is where this package must live (its own Node and node_modules, apart from the system's); the bundled
  // npm packages are what they are upstream (minified sources, prebuilt binaries, test data).
  write(
    join(stage, 'usr', 'share', 'lintian', 'overrides', 'anya-core'),
    [
      'dir-or-file-in-opt',
      'source-is-missing [opt/anya-core/*]',
      'source-contains-prebuilt-javascript-object [opt/anya-core/*]',
      'embedded-javascript-library * [opt/anya-core/*]',
      'unstripped-binary-or-object [opt/anya-core/*]',
      'shared-library-lacks-prerequisites [opt/anya-core/*]',
      'library-not-linked-against-libc [opt/anya-core/*]',
      'extra-license-file [opt/anya-core/*]',
      'package-contains-documentation-outside-usr-share-doc [opt/anya-core/*]',
      'script-not-executable [opt/anya-core/*]',
      'executable-not-elf-or-script [opt/anya-core/*]',
      'unusual-interpreter * [opt/anya-core/*]',
      'package-contains-vcs-control-file [opt/anya-core/*]',
      'repeated-path-segment * [opt/anya-core/*]',
      'jar-not-in-usr-share [opt/anya-core/*]',
      'hardening-no-fortify-functions [opt/anya-core/*]',
      'hardening-no-bindnow [opt/anya-core/*]',
      'embedded-library * [opt/anya-core/*]',
      'missing-dep-for-interpreter * [opt/anya-core/*]',
      'wrong-path-for-interpreter * [opt/anya-core/*]',
      'incorrect-path-for-interpreter * [opt/anya-core/*]',
      'privacy-breach-generic * [opt/anya-core/*]',
      'zero-byte-file-in-doc-directory [opt/anya-core/*]',
      'package-contains-empty-directory [opt/anya-core/*]',
      'no-manual-page [usr/bin/anyad]',
      'no-manual-page [usr/bin/anya-cli]',
      '',
    ]
      .map((l) => (l ? `anya-core: ${l}` : l))
      .join('\n'),
  );
  const deb = join(stage, 'DEBIAN');
  write(
    join(deb, 'control'),
    [
      'Package: anya-core',
      `Version: ${version}`,
      `Architecture: ${arch}`,
      `Maintainer: ${maintainer}`,
      `Installed-Size: ${duSize(stage)}`,
      'Depends: libc6 (>= 2.28), libstdc++6 (>= 10), systemd (>= 247)',
      'Recommends: softhsm2',
      'Section: net',
      'Priority: optional',
      'Description: JSON-RPC daemon for Bitcoin node hardware (anyad, anya-cli)',
      ' anyad keeps connections to Bitcoin Core and Lightning nodes, holds keys in an',
      ' HSM, runs local ONNX models and serves all of it to local programs through one',
      ' JSON-RPC 2.0 API on a Unix socket and a WebSocket. It carries its own Node.js',
      ' runtime under /opt/anya-core. Nothing is started or enabled by the package:',
      ' edit /etc/anyad/anya.conf, then systemctl enable --now anyad.',
      '',
    ].join('\n'),
  );
  write(join(deb, 'conffiles'), '/etc/anyad/anya.conf\n');
  write(
    join(deb, 'postinst'),
    `#!/bin/sh
# Creates the anyad user and its directories; enables and starts nothing (the operator does, after editing
# /etc/anyad/anya.conf).
set -e
if [ "$1" = configure ]; then
  systemd-sysusers anyad.conf
  systemd-tmpfiles --create anyad.conf
  chown root:anyad /etc/anyad/anya.conf
  chmod 0640 /etc/anyad/anya.conf
  if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
fi
exit 0
`,
    0o755,
  );
  write(
    join(deb, 'postrm'),
    `#!/bin/sh
# Tells systemd the unit is gone; keeps /var/lib/anyad (keys and state are the operator's to remove).
set -e
if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
exit 0
`,
    0o755,
  );
  const file = join(out, `anya-core_${version}_${arch}.deb`);
  if (run('dpkg-deb', ['--root-owner-group', '-Zgzip', '-z6', '--build', stage, file], { stdio: ['ignore', 'ignore', 'inherit'] }) !== 0)
    die(`dpkg-deb failed for ${arch}`);
  say(`built ${file} (${(statSync(file).size / 1e6).toFixed(1)} MB, installed ${(duSize(stage) / 1024).toFixed(0)} MB)`);
  built.push(file);
}

// lintian: errors fail (the overrides above say why each overridden tag does not apply).
if (spawnSync('sh', ['-c', 'command -v lintian']).status !== 0) {
  if (process.getuid?.() !== 0) die('lintian is not installed (apt-get install lintian)');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => run('apt-get', ['install', '-y', '-q', '--no-install-recommends', 'lintian'], { env });
  if (install() !== 0 && (run('apt-get', ['update', '-qq'], { env }) !== 0 || install() !== 0)) die('apt-get could not install lintian');
}
for (const file of built) {
  const r = spawnSync('lintian', ['--fail-on', 'error', '--tag-display-limit', '0', file], { encoding: 'utf8' });
  const lines = (r.stdout + r.stderr).trim();
  if (lines) say(`lintian ${file.split('/').at(-1)}:\n${lines}`);
  if (r.status !== 0) die(`lintian found errors in ${file}`);
  say(`lintian: no errors in ${file.split('/').at(-1)}`);
}

// The amd64 package as installed: extracted, its own Node runs its anyad (regtest, software keystore), its anya-cli
// calls getinfo and stop, anyad exits 0; and the unit as installed passes systemd-analyze verify.
const amd64 = built.find((f) => f.endsWith('_amd64.deb'));
if (amd64 && process.arch === 'x64') {
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { spawn } = await import('node:child_process');
  const { setTimeout } = await import('node:timers/promises');
  const x = mkdtempSync(join(tmpdir(), 'anya-deb-'));
  if (run('dpkg-deb', ['-x', amd64, join(x, 'root')]) !== 0) die('dpkg-deb -x failed');
  const opt = join(x, 'root', 'opt', 'anya-core');
  const node = join(opt, 'node', 'bin', 'node');
  const datadir = join(x, 'data');
  writeFileSync(join(x, 'pass'), 'deb smoke passphrase\n', { mode: 0o600 });
  const d = spawn(
    node,
    [
      join(opt, 'dist', 'bin', 'anyad.js'),
      '-regtest',
      `-datadir=${datadir}`,
      '-rpcport=0',
      '-nobitcoind.enable',
      '-hsm.provider=software',
      `-hsm.passphrasefile=${join(x, 'pass')}`,
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let log = '';
  d.stdout.on('data', (c) => (log += c));
  d.stderr.on('data', (c) => (log += c));
  const exited = new Promise((r) => d.once('exit', (code, sig) => r(code ?? sig)));
  for (let i = 0; i < 600 && !log.includes('"msg":"anyad ready"') && d.exitCode === null; i++) await setTimeout(100);
  if (!log.includes('"msg":"anyad ready"')) die(`the packaged anyad did not start:\n${log}`);
  const cli = (...a) => spawnSync(node, [join(opt, 'dist', 'bin', 'anya-cli.js'), '-regtest', `-datadir=${datadir}`, ...a], { encoding: 'utf8' });
  const info = cli('getinfo');
  if (info.status !== 0) die(`the packaged anya-cli getinfo failed: ${info.stdout}${info.stderr}`);
  say(
    `the packaged anyad (Node ${spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim()}) answers getinfo: version ${JSON.parse(info.stdout).version}`,
  );
  if (cli('stop').status !== 0) die('the packaged anya-cli stop failed');
  const code = await exited;
  if (code !== 0) die(`the packaged anyad exited ${code}`);
  say('the packaged anyad stopped with exit 0');
  rmSync(x, { recursive: true, force: true });
  // Installed for real (CI only, as root: it adds a system user and files under /opt and /lib): postinst makes the
  // user, enables nothing, and the unit in place passes systemd-analyze verify; then the package is purged.
  if (process.env.CI && process.getuid?.() === 0 && spawnSync('sh', ['-c', 'command -v systemd-analyze']).status === 0) {
    if (run('dpkg', ['-i', amd64], { stdio: ['ignore', 'ignore', 'inherit'] }) !== 0) die('dpkg -i failed');
    const checks = [
      ['the anyad user exists', spawnSync('id', ['anyad']).status === 0],
      ['nothing enabled by the package', spawnSync('systemctl', ['is-enabled', 'anyad'], { encoding: 'utf8' }).stdout.trim() !== 'enabled'],
      ['/usr/bin/anya-cli runs', spawnSync('/usr/bin/anya-cli', ['-version'], { encoding: 'utf8' }).status === 0],
    ];
    const v = spawnSync('systemd-analyze', ['verify', '/lib/systemd/system/anyad.service'], { encoding: 'utf8' });
    checks.push([`systemd-analyze verify of the unit as installed${v.status === 0 ? '' : `: ${v.stdout}${v.stderr}`}`, v.status === 0]);
    run('dpkg', ['--purge', 'anya-core'], { stdio: ['ignore', 'ignore', 'inherit'] });
    for (const [what, ok] of checks) if (!ok) die(what);
    say('installed with dpkg -i: user made, nothing enabled, anya-cli runs, the unit passes systemd-analyze verify; purged');
  } else say('not installed with dpkg -i (only in CI, as root): the unit as installed was not verified here');
}
