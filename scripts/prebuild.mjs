// Puts compiled addons into the prebuildify layout that node-gyp-build loads
// (prebuilds/<platform>-<arch>/node.napi[.glibc|.musl].node) so `npm pack`/`npm publish` ship them (prepack):
// this machine's build, plus linux-arm64 cross-compiled when THINKGRAD_PREBUILD_ARM64=1 (on a linux-x64 glibc
// host with aarch64-linux-gnu-g++). `--clean` removes them again (postpack), so a checkout never loads a stale one.
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const probeDir = join(root, 'native', 'cpu-probe');

if (process.argv.includes('--clean')) {
  for (const dir of [root, probeDir]) rmSync(join(dir, 'prebuilds'), { recursive: true, force: true });
  process.exit(0);
}

// glibc and musl binaries are not interchangeable; node-gyp-build skips a prebuild whose libc tag differs.
function libcTag() {
  if (process.platform !== 'linux') return '';
  return process.report.getReport().header.glibcVersionRuntime ? '.glibc' : '.musl';
}

const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js');

// configure + build (not rebuild): make recompiles only what changed, so packing after a build costs seconds,
// and configure picks up source files added since the last one.
function build(dir, args = [], env = process.env) {
  for (const step of [['configure', ...args], ['build', '-j', 'max']]) {
    // stdout stays clean for `npm pack --json`, whose caller parses it; progress goes to stderr.
    const r = spawnSync(process.execPath, [nodeGyp, ...step], { cwd: dir, env, stdio: ['ignore', 'ignore', 'inherit'] });
    if (r.status !== 0) {
      console.error(`thinkgrad prebuild: node-gyp ${step.join(' ')} failed in ${dir}`);
      process.exit(1);
    }
  }
}

function place(built, dir, platformArch, tags) {
  const out = join(dir, 'prebuilds', platformArch);
  mkdirSync(out, { recursive: true });
  copyFileSync(built, join(out, `node.napi${tags}.node`));
  console.error(`thinkgrad prebuild: ${built} -> ${out}`);
}

// The engine, and on x86-64 the CPU probe (its own node-gyp project, see src/native.ts).
const addons = [{ dir: root, target: 'thinkgrad_native' }, ...(process.arch === 'x64' ? [{ dir: probeDir, target: 'thinkgrad_cpu_probe' }] : [])];
for (const dir of [root, probeDir]) rmSync(join(dir, 'prebuilds'), { recursive: true, force: true });
for (const { dir, target } of addons) {
  build(dir);
  place(join(dir, 'build', 'Release', `${target}.node`), dir, `${process.platform}-${process.arch}`, libcTag());
}

// The arm64 engine is built from a copy of the sources in build-arm64/ (timestamps kept, so make stays
// incremental) rather than in build/, which holds this machine's own engine.
if (process.env.THINKGRAD_PREBUILD_ARM64 === '1') {
  if (process.platform !== 'linux' || process.arch !== 'x64' || !libcTag().includes('glibc')) {
    console.error('thinkgrad prebuild: THINKGRAD_PREBUILD_ARM64=1 needs a linux-x64 glibc host with aarch64-linux-gnu-g++');
    process.exit(1);
  }
  const cross = join(root, 'build-arm64');
  mkdirSync(cross, { recursive: true });
  copyFileSync(join(root, 'binding.gyp'), join(cross, 'binding.gyp'));
  rmSync(join(cross, 'native'), { recursive: true, force: true }); // drops deleted sources; mtimes come back with the copy
  for (const part of ['core', 'ops', 'binding', 'math'])
    cpSync(join(root, 'native', part), join(cross, 'native', part), { recursive: true, preserveTimestamps: true });
  const tools = { CC: 'aarch64-linux-gnu-gcc', CXX: 'aarch64-linux-gnu-g++', LINK: 'aarch64-linux-gnu-g++', AR: 'aarch64-linux-gnu-ar' };
  build(cross, ['--arch=arm64'], { ...process.env, ...tools });
  place(join(cross, 'build', 'Release', 'thinkgrad_native.node'), root, 'linux-arm64', '.glibc');
}
