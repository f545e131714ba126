// Sets up the native addons on `npm install`: the CPU engine from the package's prebuilt binary when one matches
// and loads here, else compiled from source (failure is fatal); the CUDA addon only where nvcc is found and
// THINKGRAD_CUDA is not "0" (failure never fails the install); in a checkout also the CUDA emulator (cuda/emulator).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, delimiter } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');

// Resolved only when compiling: the install script's toolchain check also runs from a bare copy of this file.
const nodeGyp = () => require.resolve('node-gyp/bin/node-gyp.js');

function run(cmd, args, cwd) {
  const result = spawnSync(cmd, args, { cwd, stdio: 'inherit', env: process.env });
  return result.status === 0;
}

function findNvcc() {
  const candidates = [];
  if (process.env.CUDA_HOME) candidates.push(join(process.env.CUDA_HOME, 'bin', 'nvcc'));
  if (process.env.CUDA_PATH) candidates.push(join(process.env.CUDA_PATH, 'bin', 'nvcc'));
  for (const dir of (process.env.PATH ?? '').split(delimiter)) if (dir) candidates.push(join(dir, 'nvcc'));
  candidates.push('/usr/local/cuda/bin/nvcc');
  return candidates.find((p) => existsSync(p));
}

// A command is found when it is a path that exists or a name on the PATH.
function onPath(cmd) {
  if (cmd.includes('/')) return existsSync(cmd);
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir && existsSync(join(dir, cmd)));
}

// What node-gyp needs, named before it runs so a missing tool gives one clear message instead of a build log.
function missingTools() {
  if (process.platform === 'win32') return []; // node-gyp finds Visual Studio itself
  const missing = [];
  const python = process.env.npm_config_python || process.env.PYTHON;
  if (python ? !onPath(python) : !onPath('python3') && !onPath('python')) missing.push(python ? `python (${python}, from PYTHON/npm_config_python)` : 'python3');
  if (!onPath('make')) missing.push('make');
  const cxx = process.env.CXX?.split(' ')[0];
  if (cxx ? !onPath(cxx) : !['g++', 'c++', 'clang++'].some(onPath)) missing.push(cxx ? `the C++ compiler ${cxx} (from CXX)` : 'a C++ compiler (g++ or clang++)');
  return missing;
}

const HOW_TO_FIX = 'Install them (Debian/Ubuntu: apt-get install python3 make g++; Fedora: dnf install python3 make gcc-c++; ' +
  'macOS: xcode-select --install), then run `npm rebuild thinkgrad`.';

// The folders node-gyp builds, each with its own binding.gyp and hence its own build/ and prebuilds/: the engine,
// and on x86-64 the baseline-compiled CPU probe that src/native.ts loads first.
const addonDirs = [root, ...(process.arch === 'x64' ? [join(root, 'native', 'cpu-probe')] : [])];

// A prebuild is used only when it loads in a child process here (right platform, libc and libstdc++), so a
// mismatch falls back to the source build instead of failing at import.
function prebuildLoads(dir) {
  if (!existsSync(join(dir, 'prebuilds'))) return false;
  const probe = spawnSync(process.execPath, ['-e', 'require(process.argv[1])(process.argv[2])', require.resolve('node-gyp-build'), dir],
    { env: { ...process.env, PREBUILDS_ONLY: '1' }, encoding: 'utf8' });
  return probe.status === 0;
}

// A checkout always compiles: its native sources may be newer than any prebuild lying around.
const emulator = join(root, 'cuda', 'emulator');
const checkout = existsSync(join(emulator, 'binding.gyp'));
const fromSource = checkout || /^(true|1)$/.test(process.env.npm_config_build_from_source ?? '');

if (!fromSource && addonDirs.every(prebuildLoads)) {
  console.log(`thinkgrad: using the prebuilt CPU engine for ${process.platform}-${process.arch} (npm rebuild thinkgrad --build-from-source compiles it)`);
} else {
  const missing = missingTools();
  if (missing.length > 0) {
    console.error(`thinkgrad: cannot build the native CPU engine: ${missing.join(', ')} not found. It needs python3, make and a ` +
      `C++20 compiler (g++ >= 10 or clang >= 12). ${HOW_TO_FIX}`);
    process.exit(1);
  }
  console.log('thinkgrad: building the CPU engine (node-gyp)');
  for (const dir of addonDirs) {
    if (!run(process.execPath, [nodeGyp(), 'rebuild', '-j', 'max'], dir)) {
      console.error('thinkgrad: the native CPU engine failed to build (node-gyp\'s output above names the step). It needs python3, ' +
        `make and a C++20 compiler (g++ >= 10 or clang >= 12; an older compiler fails on -std=c++20). ${HOW_TO_FIX}`);
      process.exit(1);
    }
  }
}

// A checkout (not the npm package) also builds the CUDA sources for the CPU emulator, which the tests run.
if (checkout && process.platform !== 'win32') {
  console.log('thinkgrad: building the CUDA sources for the CPU emulator (cuda/emulator, for the tests)');
  if (!run(process.execPath, [nodeGyp(), 'rebuild', '-j', 'max'], emulator))
    console.warn('thinkgrad: the CUDA emulator failed to build; tests/grpo-cuda-emulated.test.ts will fail until it does');
}

if (process.env.THINKGRAD_CUDA === '0') {
  console.log('thinkgrad: THINKGRAD_CUDA=0, skipping the CUDA addon');
} else if (!existsSync(join(root, 'cuda', 'CMakeLists.txt'))) {
  console.log('thinkgrad: no cuda/ sources in this package, skipping the CUDA addon');
} else {
  const nvcc = findNvcc();
  if (!nvcc) {
    console.log('thinkgrad: nvcc not found, building without CUDA (install the CUDA toolkit and run npm rebuild to add it)');
  } else {
    console.log(`thinkgrad: building the CUDA addon with ${nvcc} (cmake-js)`);
    const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
    const ok = run(process.execPath, [cmakeJs, 'compile', '--directory', join(root, 'cuda'), '--out', join(root, 'build-cuda'),
      `--CDCMAKE_CUDA_COMPILER=${nvcc}`], root);
    if (!ok) console.warn('thinkgrad: the CUDA addon failed to build; the CPU engine works without it');
  }
}
