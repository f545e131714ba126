// The package as users get it: `npm pack` (which ships this machine's addons as prebuilds), then install that
// tarball offline into a fresh project whose PATH has no compiler, make or python, so only the prebuild can work;
// ESM import and CommonJS require do real math, TS files type-check, the bin runs, and a source build still works.
// About two minutes on 2 cores (most of it the source build). THINKGRAD_SKIP_PACKAGE_TEST=1 skips it.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const skip = process.env.THINKGRAD_SKIP_PACKAGE_TEST === '1';
if (skip) console.log('package test: skipped: THINKGRAD_SKIP_PACKAGE_TEST=1');

// What a consumer needs and nothing else: compiled JS with its .d.ts, this platform's prebuilt addons, the native
// and CUDA sources for a source build, the build script and the package's own documents.
const platform = `${process.platform}-${process.arch}`;
const PREBUILDS = [`prebuilds/${platform}/node.napi.glibc.node`,
  ...(process.arch === 'x64' ? [`native/cpu-probe/prebuilds/${platform}/node.napi.glibc.node`] : [])];
const ALLOWED = [
  /^package\.json$/, /^README\.md$/, /^LICENSE$/, /^binding\.gyp$/, /^scripts\/build-native\.mjs$/,
  /^dist\/.+\.(js|d\.ts)$/, /^native\/(core|math|ops|binding|cpu-probe|kernels|kernels\/loops)\/[\w-]+\.(h|cc)$/, /^native\/cpu-probe\/binding\.gyp$/,
  /^cuda\/([\w-]+\.(cu|cuh|cc|h)|CMakeLists\.txt|package\.json)$/, /^(native\/cpu-probe\/)?prebuilds\/[\w-]+\/node\.napi\.(glibc|musl)\.node$/,
];
const REQUIRED = ['package.json', 'README.md', 'LICENSE', 'binding.gyp', 'scripts/build-native.mjs', 'dist/index.js',
  'dist/index.d.ts', 'dist/cli/main.js', 'native/binding/module.cc', 'native/kernels/loops/grpo.h', 'cuda/CMakeLists.txt', 'cuda/package.json', 'cuda/grpo.cu', 'cuda/buffers.h',
  'native/cpu-probe/binding.gyp', 'native/cpu-probe/cpu_probe.cc', ...PREBUILDS];

// The children must not inherit the outer `npm test`'s lifecycle variables (npm_config_local_prefix would point
// the consumer's npm at this repository) nor an addon override; repo binaries leave the PATH so that `npx`
// can only find the installed bin.
function cleanEnv(): NodeJS.ProcessEnv {
  const keep = new Set(['npm_config_cache', 'npm_config_userconfig', 'npm_config_globalconfig', 'npm_config_nodedir',
    'npm_config_python', 'npm_config_registry', 'npm_config_cafile']);
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.toLowerCase().startsWith('npm_') && !keep.has(k.toLowerCase())) continue;
    if (k === 'THINKGRAD_NATIVE_PATH') continue;
    env[k] = v;
  }
  env.PATH = (process.env.PATH ?? '').split(delimiter).filter((d) => !d.includes('node_modules')).join(delimiter);
  env.THINKGRAD_CUDA = '0'; // the CPU engine only: keeps the install fast
  return env;
}

// A PATH holding only node, npm, npx and sh (npm runs scripts with it): a source build would stop at the missing compiler, make and python.
function noToolchainEnv(bin: string): NodeJS.ProcessEnv {
  const env = cleanEnv();
  for (const k of Object.keys(env)) if (/^(CC|CXX|PYTHON|npm_config_python)$/i.test(k)) delete env[k];
  env.PATH = bin;
  return env;
}

function sh(cmd: string, args: string[], cwd: string, env = cleanEnv()): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 << 20 });
}

function onPath(cmd: string): string {
  const dir = (process.env.PATH ?? '').split(delimiter).find((d) => d && existsSync(join(d, cmd)));
  if (!dir) throw new Error(`${cmd} is not on the PATH`);
  return join(dir, cmd);
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  if (r.status !== 0) throw new Error(`${what} exited ${r.status}:\n${r.stdout}\n${r.stderr}${r.error ? `\n${r.error}` : ''}`);
  return r.stdout;
}

// npm resolves a new dependency from full registry documents, which a lockfile install (what CI's
// `npm install` did) never caches. The consumer's lockfile is therefore seeded with our own production
// entries, so `npm install <tarball> --offline` finds the same versions in the local cache.
function seedLockfile(app: string, tarball: string): void {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const packages: Record<string, unknown> = {
    '': { name: 'consumer', version: '1.0.0', dependencies: { thinkgrad: `file:${tarball}` } },
    'node_modules/thinkgrad': { version: pkg.version, resolved: `file:${tarball}`, hasInstallScript: true, license: pkg.license,
      dependencies: pkg.dependencies, bin: pkg.bin, engines: pkg.engines },
  };
  for (const [path, entry] of Object.entries(lock.packages)) if (path !== '' && !entry.dev) packages[path] = entry;
  writeFileSync(join(app, 'package-lock.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', lockfileVersion: 3, requires: true, packages }, null, 2));
}

const CHECK_MJS = `import * as tg from 'thinkgrad';
const a = tg.tensor([[1, 2], [3, 4]], undefined, { requiresGrad: true });
const b = tg.tensor([[5, 6], [7, 8]]);
const c = tg.matmul(a, b);
c.sum().backward();
console.log(JSON.stringify({ product: c.toArray(), grad: a.grad.toArray(), backends: tg.backends() }));
`;

// require(esm), unflagged since Node 20.19: the whole module graph must be synchronous (no top-level await).
const CHECK_CJS = `const tg = require('thinkgrad');
const c = tg.matmul(tg.tensor([[1, 2], [3, 4]]), tg.tensor([[5, 6], [7, 8]]));
console.log(JSON.stringify({ product: c.toArray(), hasTensor: typeof tg.Tensor === 'function' }));
`;

const CHECK_CTS = `import tg = require('thinkgrad');
const t: tg.Tensor = tg.tensor([1, 2]);
export const n: number[] = t.toArray() as number[];
`;

const CHECK_TS = `import * as tg from 'thinkgrad';
const model = new tg.nn.LlamaForCausalLM({ vocabSize: 16, hiddenSize: 16, intermediateSize: 32, numHiddenLayers: 1, numAttentionHeads: 2 });
const opt: tg.AdamW = new tg.AdamW(model.parameters(), { lr: 1e-3 });
const { advantages }: tg.GroupAdvantagesResult = tg.groupAdvantages([1, 0, 0.5, 0.5], { groupSize: 2 });
const out: tg.GenerateResult = tg.generate(model, [[1, 2]], { maxNewTokens: 2, temperature: 0.7 });
const reward: tg.rewards.RewardFunction = ({ completions }) => completions.map(() => 1);
const config: Partial<tg.GRPOConfig> = { numGenerations: 4, lossType: 'dr_grpo', beta: 0.04 };
export const used = [opt, advantages, out.completionIds, reward, config];
`;

describe.skipIf(skip)('the npm package from its tarball', () => {
  let work = '';
  let app = '';
  let files: { path: string; mode: number }[] = [];
  let packed = { size: 0, unpackedSize: 0 };
  let installLog = '';

  let noToolchain: NodeJS.ProcessEnv = {};

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'thinkgrad-pack-'));
    const out = ok(sh('npm', ['pack', '--json', '--pack-destination', work], root), 'npm pack');
    const info = JSON.parse(out.slice(out.indexOf('['))) as { filename: string; size: number; unpackedSize: number; files: { path: string; mode: number }[] }[];
    files = info[0].files;
    packed = info[0];
    const bin = join(work, 'bin');
    mkdirSync(bin);
    for (const tool of ['node', 'npm', 'npx', 'sh']) symlinkSync(tool === 'node' ? process.execPath : onPath(tool), join(bin, tool));
    noToolchain = noToolchainEnv(bin);
    app = join(work, 'app');
    mkdirSync(app);
    ok(sh('npm', ['init', '-y'], app), 'npm init');
    seedLockfile(app, `../${info[0].filename}`);
    installLog = ok(sh('npm', ['install', `../${info[0].filename}`, '--offline', '--no-audit', '--no-fund', '--foreground-scripts'], app, noToolchain),
      'npm install <tarball> --offline without a toolchain');
  }, 600_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('packs what a consumer needs and nothing else, and leaves no prebuilds in the checkout', () => {
    const paths = files.map((f) => f.path);
    expect(paths.filter((p) => !ALLOWED.some((re) => re.test(p)))).toEqual([]);
    expect(REQUIRED.filter((p) => !paths.includes(p))).toEqual([]);
    expect(files.find((f) => f.path === 'dist/cli/main.js')!.mode & 0o111).toBe(0o111);
    expect(packed.size).toBeLessThan(1 << 20);
    expect(existsSync(join(root, 'prebuilds'))).toBe(false);
    expect(existsSync(join(root, 'native', 'cpu-probe', 'prebuilds'))).toBe(false);
  });

  it('installs offline into a fresh project without a compiler, from the prebuilt addon', () => {
    expect(installLog).toMatch(/added \d+ packages/);
    expect(installLog).toContain(`using the prebuilt CPU engine for ${platform}`);
    const pkgDir = join(app, 'node_modules', 'thinkgrad');
    expect(lstatSync(pkgDir).isSymbolicLink()).toBe(false);
    expect(existsSync(join(pkgDir, 'build'))).toBe(false);
    expect(existsSync(join(pkgDir, 'build-cuda'))).toBe(false); // THINKGRAD_CUDA=0
  });

  it('an ESM import does real math with autograd', () => {
    writeFileSync(join(app, 'check.mjs'), CHECK_MJS);
    const r = sh(process.execPath, ['check.mjs'], app, noToolchain);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ product: [[19, 22], [43, 50]], grad: [[11, 15], [11, 15]], backends: ['cpu'] });
  });

  it('a CommonJS require loads the package and does real math', () => {
    writeFileSync(join(app, 'check.cjs'), CHECK_CJS);
    const r = sh(process.execPath, ['check.cjs'], app, noToolchain);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ product: [[19, 22], [43, 50]], hasTensor: true });
    const inline = sh(process.execPath, ['-e', "const tg = require('thinkgrad'); console.log(tg.tensor([1, 2]).add(tg.tensor([3, 4])).toArray().join())"], app, noToolchain);
    expect(inline.stdout.trim()).toBe('4,6');
  });

  it('a TypeScript file type-checks against the installed types', () => {
    writeFileSync(join(app, 'check.ts'), CHECK_TS);
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, types: [] },
      files: ['check.ts'],
    }));
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    ok(sh(process.execPath, [tsc, '-p', 'tsconfig.json'], app), 'tsc --noEmit');
    // The types also resolve for CommonJS code (the `require` condition).
    writeFileSync(join(app, 'check.cts'), CHECK_CTS);
    writeFileSync(join(app, 'tsconfig.cjs.json'), JSON.stringify({ extends: './tsconfig.json', files: ['check.cts'] }));
    ok(sh(process.execPath, [tsc, '-p', 'tsconfig.cjs.json'], app), 'tsc --noEmit (CommonJS)');
    // And a type error is reported, so the check above is not vacuous.
    writeFileSync(join(app, 'bad.ts'), "import * as tg from 'thinkgrad';\nexport const n: number = tg.tensor([1]);\n");
    writeFileSync(join(app, 'tsconfig.bad.json'), JSON.stringify({ extends: './tsconfig.json', files: ['bad.ts'] }));
    const bad = sh(process.execPath, [tsc, '-p', 'tsconfig.bad.json'], app);
    expect(bad.status).not.toBe(0);
    expect(bad.stdout).toContain("Type 'Tensor' is not assignable to type 'number'");
  });

  it('the thinkgrad bin runs from the installed package', () => {
    const bin = join(app, 'node_modules', '.bin', 'thinkgrad');
    expect(statSync(bin).mode & 0o111).toBe(0o111);
    expect(readFileSync(join(app, 'node_modules', 'thinkgrad', 'dist', 'cli', 'main.js'), 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    const help = ok(sh('npx', ['--offline', 'thinkgrad', '--help'], app), 'npx thinkgrad --help');
    expect(help).toContain('Usage: thinkgrad <command>');
    for (const command of ['demo', 'sft', 'grpo', 'sample', 'distill', 'eval', 'generate', 'rm']) expect(help).toContain(`  ${command} `);
    expect(ok(sh(bin, ['grpo', '--help'], app), 'thinkgrad grpo --help')).toMatch(/example/i);
  });

  it('without a usable addon the import fails with one message saying how to fix it', () => {
    const prebuilds = join(app, 'node_modules', 'thinkgrad', 'prebuilds');
    renameSync(prebuilds, `${prebuilds}.away`);
    try {
      const r = sh(process.execPath, ['check.mjs'], app, noToolchain);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain('thinkgrad: the native engine is not built or failed to load');
      expect(r.stderr).toContain('npm rebuild thinkgrad');
    } finally {
      renameSync(`${prebuilds}.away`, prebuilds);
    }
  });

  it('falls back to a source build when no prebuild loads, or when asked to', () => {
    const pkgDir = join(app, 'node_modules', 'thinkgrad');
    const install = (env: NodeJS.ProcessEnv) => sh(process.execPath, ['scripts/build-native.mjs'], pkgDir, env);
    // The toolchain's absence shows which way the script went: the prebuild path never asks for a compiler.
    const prebuilt = join(pkgDir, 'prebuilds', platform, 'node.napi.glibc.node');
    const bytes = readFileSync(prebuilt);
    writeFileSync(prebuilt, 'not an ELF file');
    try {
      const broken = install(noToolchain);
      expect(broken.status).toBe(1);
      expect(broken.stderr).toContain('cannot build the native CPU engine');
    } finally {
      writeFileSync(prebuilt, bytes);
    }
    const forced = install({ ...noToolchain, npm_config_build_from_source: 'true' });
    expect(forced.status).toBe(1);
    expect(forced.stderr).toContain('cannot build the native CPU engine');
    expect(install(noToolchain).stdout).toContain('using the prebuilt CPU engine');
  });

  it('still builds from source with a toolchain (npm rebuild --build-from-source), and that build is loaded', () => {
    ok(sh('npm', ['rebuild', 'thinkgrad', '--build-from-source', '--offline', '--foreground-scripts'], app), 'npm rebuild --build-from-source');
    const pkgDir = join(app, 'node_modules', 'thinkgrad');
    expect(existsSync(join(pkgDir, 'build', 'Release', 'thinkgrad_native.node'))).toBe(true);
    const r = sh(process.execPath, ['--input-type=module', '-e',
      "import { createRequire } from 'node:module'; const gyp = createRequire(process.cwd() + '/')('node-gyp-build');" +
      " const tg = await import('thinkgrad'); console.log(gyp.path('node_modules/thinkgrad'), tg.matmul(tg.tensor([[2]]), tg.tensor([[3]])).item())"], app);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(`${join(pkgDir, 'build', 'Release', 'thinkgrad_native.node')} 6`);
  }, 600_000);
});

describe('the install script', () => {
  // A copy of the script outside the repository: whatever happens, it cannot touch this checkout's build/.
  it('names the missing tool and the fix when the toolchain is absent', () => {
    const dir = mkdtempSync(join(tmpdir(), 'thinkgrad-install-'));
    try {
      ok(sh('mkdir', ['-p', join(dir, 'scripts')], dir), 'mkdir');
      writeFileSync(join(dir, 'scripts', 'build-native.mjs'), readFileSync(join(root, 'scripts', 'build-native.mjs')));
      const r = spawnSync(process.execPath, ['scripts/build-native.mjs'], { cwd: dir, encoding: 'utf8', env: { ...cleanEnv(), CXX: '/nonexistent/c++' } });
      expect(r.status).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain('/nonexistent/c++');
      expect(r.stderr).toContain('npm rebuild thinkgrad');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
