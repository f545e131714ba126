// Builds the native addons on `npm install`: the CPU engine always (failure is fatal), the CUDA addon only
// where nvcc is found and THINKGRAD_CUDA is not "0" (failure there is reported and never fails the install).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, delimiter } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');

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

const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js');
console.log('thinkgrad: building the CPU engine (node-gyp)');
if (!run(process.execPath, [nodeGyp, 'rebuild', '-j', 'max'], root)) {
  console.error('thinkgrad: the CPU engine failed to build. It needs python3, make and a C++20 compiler (g++ >= 10 or clang >= 12).');
  process.exit(1);
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
