#!/usr/bin/env bash
# Makes what bench/gpu.sh needs on a lent GPU machine that the working tree lacks (it has no Node and no npm):
# .gpu/node.xz (this machine's node, xz-compressed) and .gpu/test-modules.tar.xz (node_modules without the
# build- and docs-only packages, for vitest there). Run after `npm run build`; then run bench/gpu.sh there with
# carry [".gpu", "build", "native/cpu-probe/build", "dist"]. The device tool carries at most 64 MiB in all.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .gpu
[ -s .gpu/node.xz ] || xz -T2 -6 -c "$(command -v node)" > .gpu/node.xz
tar -cJf .gpu/test-modules.tar.xz --exclude='node_modules/typedoc*' --exclude='node_modules/@shikijs' \
  --exclude='node_modules/typescript' --exclude='node_modules/node-gyp' --exclude='node_modules/@types' \
  --exclude='node_modules/.cache' node_modules
du -ch .gpu/node.xz .gpu/test-modules.tar.xz build dist native/cpu-probe/build | tail -1
