// Puts this machine's compiled addons into the prebuildify layout that node-gyp-build loads
// (prebuilds/<platform>-<arch>/node.napi[.glibc|.musl].node) so `npm pack`/`npm publish` ship them (prepack);
// `--clean` removes them again (postpack), so a checkout never loads a stale prebuild.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');

// Each folder has its own binding.gyp and target; the CPU probe exists only for x86-64 (see src/native.ts).
const addons = [
  { dir: root, target: 'thinkgrad_native' },
  ...(process.arch === 'x64' ? [{ dir: join(root, 'native', 'cpu-probe'), target: 'thinkgrad_cpu_probe' }] : []),
];

if (process.argv.includes('--clean')) {
  for (const { dir } of addons) rmSync(join(dir, 'prebuilds'), { recursive: true, force: true });
  process.exit(0);
}

// glibc and musl binaries are not interchangeable; node-gyp-build skips a prebuild whose libc tag differs.
function libcTag() {
  if (process.platform !== 'linux') return '';
  return process.report.getReport().header.glibcVersionRuntime ? '.glibc' : '.musl';
}

// configure + build (not rebuild): make recompiles only what changed, so packing after a build costs seconds,
// and configure picks up source files added since the last one.
const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js');
for (const { dir, target } of addons) {
  for (const step of [['configure'], ['build', '-j', 'max']]) {
    // stdout stays clean for `npm pack --json`, whose caller parses it; progress goes to stderr.
    const r = spawnSync(process.execPath, [nodeGyp, ...step], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
    if (r.status !== 0) {
      console.error(`thinkgrad prebuild: node-gyp ${step[0]} failed in ${dir}`);
      process.exit(1);
    }
  }
  const out = join(dir, 'prebuilds', `${process.platform}-${process.arch}`);
  rmSync(join(dir, 'prebuilds'), { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  copyFileSync(join(dir, 'build', 'Release', `${target}.node`), join(out, `node.napi${libcTag()}.node`));
  console.error(`thinkgrad prebuild: ${target} -> ${out}`);
}
