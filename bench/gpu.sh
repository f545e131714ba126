#!/usr/bin/env bash
# One call on a lent GPU machine (see docs in /work/shared/GPU.md): unpack Node, print the GPU, build the
# CUDA addon for sm_90 from the carried sources, check the GRPO kernels against float64 references, time
# W3 with CUDA events beside PyTorch, run the op tests on the device against the CPU (every test in
# forEachBackend), train and sample a 0.5B model beside PyTorch and transformers (bench/gpu-train.mjs: W2, W4,
# W5), time the GPU engine's ops beside PyTorch (bench/gpu-ops.mjs: GEMM, bandwidth, attention), and run
# compute-sanitizer on a small check. Logs go to $OUT. Each stage's timeout is cut to what is left of 570 s, so
# the whole call stays under 10 minutes and a late stage is cut rather than the call.
# Needs (carried): .gpu/node.xz, .gpu/test-modules.tar.xz (scripts/gpu-carry.sh makes both), build/ and
# native/cpu-probe/build/ (the CPU addon), dist/.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
T0=$(date +%s)
stamp() { echo "[gpu.sh +$(( $(date +%s) - T0 ))s] $*"; }
# within CAP: the smaller of CAP and the seconds left of the call's 570-second budget (at least 1).
within() { local left=$(( 570 - ($(date +%s) - T0) )); (( left < $1 )) && echo $(( left > 1 ? left : 1 )) || echo "$1"; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stamp "unpacking node"
if ! xz -dc .gpu/node.xz > "$work/node" 2> "$OUT/unpack.log"; then
  echo "gpu.sh: cannot unpack .gpu/node.xz (carry it: xz -T1 -6 -c /usr/bin/node > .gpu/node.xz)"; exit 1
fi
chmod +x "$work/node"
export PATH="$work:$PATH"
node --version

{ nvidia-smi; echo; nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,temperature.gpu,power.draw --format=csv; echo;
  nvcc --version; cmake --version | head -1; } > "$OUT/env.txt" 2>&1
head -20 "$OUT/env.txt"

stamp "building the CUDA addon (sm_90)"
BUILD="$work/build-cuda"
GEN=""
command -v ninja > /dev/null && GEN="-G Ninja"
NVCC=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
if ! { cmake -S cuda -B "$BUILD" $GEN -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_CUDA_COMPILER="$NVCC" \
         -DTG_NODE_API_INCLUDE="$PWD/node_modules/node-api-headers/include" \
         -DTG_ADDON_API_INCLUDE="$PWD/node_modules/node-addon-api" &&
       cmake --build "$BUILD" -j 16; } > "$OUT/build.log" 2>&1; then
  tail -40 "$OUT/build.log"; echo "gpu.sh: build failed (full log in \$OUT/build.log)"; exit 1
fi
ADDON=$(find "$BUILD" -name thinkgrad_cuda.node | head -1)
grep -E 'registers|spill' "$OUT/build.log" | sort | uniq -c | sort -rn | head -6
if command -v cuobjdump > /dev/null; then
  cuobjdump --dump-sass "$ADDON" > "$OUT/sass.txt" 2>&1
  echo "SASS: $(grep -c 'LDG.E.128' "$OUT/sass.txt") LDG.E.128 (16-byte loads), $(grep -c 'STG.E.128' "$OUT/sass.txt") STG.E.128, $(grep -c 'LDL\|STL' "$OUT/sass.txt") local-memory ops"
fi

stamp "correctness + W3 benchmark"
timeout $(within 120) node bench/gpu-grpo.mjs "$ADDON" "$OUT" 2>&1 | tee "$OUT/gpu-grpo.log" | grep -v '^ok  '
rc=${PIPESTATUS[0]}

stamp "op tests on the device (cpu and cuda)"
if tar -xJf .gpu/test-modules.tar.xz -C "$work" 2> "$OUT/test-modules.log"; then
  ln -sfn "$work/node_modules" node_modules
  THINKGRAD_CUDA_PATH="$ADDON" THINKGRAD_TEST_DEVICES=cpu,cuda timeout $(within 120) node node_modules/vitest/vitest.mjs run \
    tests/elementwise.test.ts tests/creation.test.ts tests/shape.test.ts tests/reduce.test.ts tests/index-ops.test.ts \
    tests/matmul.test.ts tests/matmul-precision.test.ts tests/nn-fused.test.ts tests/kv-cache-bf16.test.ts \
    tests/optim.test.ts tests/devices.test.ts tests/cuda-training.test.ts > "$OUT/op-tests.log" 2>&1
  echo "op tests rc=$?: $(grep -E 'passed|failed' "$OUT/op-tests.log" | tail -2 | tr '\n' ' ')"
  grep -E 'FAIL|AssertionError|Error:' "$OUT/op-tests.log" | head -20
else
  echo "gpu.sh: no .gpu/test-modules.tar.xz (scripts/gpu-carry.sh): op tests skipped"
fi

stamp "0.5B training and sampling beside PyTorch (W2, W4, W5)"
timeout $(within 240) node bench/gpu-train.mjs "$ADDON" "$OUT" 2>&1 | tee "$OUT/gpu-train.log"

stamp "GPU ops beside PyTorch (GEMM, bandwidth, attention)"
timeout $(within 150) node bench/gpu-ops.mjs "$ADDON" "$OUT" 2>&1 | tee "$OUT/gpu-ops.log"

if command -v compute-sanitizer > /dev/null && [ $(( $(date +%s) - T0 )) -lt 480 ]; then
  stamp "compute-sanitizer memcheck (small shapes)"
  timeout 60 compute-sanitizer --tool memcheck --print-limit 20 node bench/gpu-grpo.mjs "$ADDON" "$OUT" --check-only --small \
    > "$OUT/memcheck.log" 2>&1
  echo "memcheck rc=$? : $(grep -E 'ERROR SUMMARY|correctness' "$OUT/memcheck.log" | tr '\n' ' ')"
fi
stamp "done (bench rc=$rc); logs in $OUT: env.txt build.log sass.txt gpu-grpo.log gpu-grpo.json op-tests.log gpu-train.log gpu-train.json gpu-ops.log gpu-ops.json memcheck.log"
exit "$rc"
