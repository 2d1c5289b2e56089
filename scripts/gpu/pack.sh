#!/usr/bin/env bash
# Prepares, on this machine, what a GPU session carries to a lent device machine that has
# CUDA, nvcc and a Python PyTorch but no node, no npm registry and no CIFAR-10 (see README.md
# in this folder). Writes two ignored folders at the package root:
#   .devcarry/  node (xz), node_modules split in two tarballs, for check.sh (build + tests)
#   .devdata/   the CIFAR-10 files train.sh needs, packed losslessly (decoded there, MD5-checked)
# Each call can carry 64 MiB, so check.sh and train.sh go in two calls on one warm machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .git/info && { grep -qx "/.devcarry/" .git/info/exclude 2>/dev/null || printf "/.devcarry/\n/.devdata/\n" >> .git/info/exclude; }
mkdir -p .devcarry .devdata
[ -s .devcarry/node.xz ] || xz -T0 -6 -c "$(command -v node)" > .devcarry/node.xz
# The test runner's packages (vitest and its bundler) are most of node_modules' weight; the
# build needs only cmake-js and the addon headers, so a retry of the build alone can carry less.
test_only=(vitest @vitest vite rolldown @rolldown lightningcss lightningcss-linux-x64-gnu esbuild @esbuild tsx @oxc-project)
never=(typescript @img sharp core-js babel-runtime @types)
excl=(--exclude='node_modules/cifar-10/cifar-10-batches-bin22/*.bin')
for p in "${test_only[@]}" "${never[@]}"; do excl+=(--exclude="node_modules/$p"); done
tar -cf - "${excl[@]}" node_modules | xz -T0 -6 > .devcarry/nm-build.tar.xz
tar -cf - $(printf 'node_modules/%s ' "${test_only[@]}") | xz -T0 -6 > .devcarry/nm-test.tar.xz
npx tsc -p tsconfig.json
node scripts/gpu/pack-cifar.mjs .devdata data_batch_1.bin test_batch.bin
du -sh .devcarry/* .devdata/* dist
