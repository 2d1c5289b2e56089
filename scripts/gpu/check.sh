#!/usr/bin/env bash
# First call on a lent GPU machine (README.md in this folder): build the CUDA variant against
# the machine's Python PyTorch, check its linkage, run the tests (the CUDA ones run there
# instead of skipping) and the GPU benchmarks. Logs under $OUT; a short summary printed last.
#   run: bash scripts/gpu/check.sh      carry: .devcarry dist
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/gpu/setup.sh
T0=$(date +%s)
stamp() { echo "[gpu +$(($(date +%s) - T0))s] $*"; }
TESTS="test/kernels test/train/moco-step.test.ts test/train/cuda-graph.test.ts test/train/dcluster-step.test.ts test/train/config.test.ts test/train/precision.test.ts test/augment.test.ts test/eval test/tensor.test.ts test/runtime.test.ts test/lifetimes.test.ts test/event-loop.test.ts test/checkpoint"
{
  stamp "machine"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  echo "cpus $(nproc), node $(node --version), $(nvcc --version | tail -1)"
  python3 -c 'import torch; print("python torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())'
  stamp "record LibTorch (python3's torch)"
  node --input-type=module -e "const m = await import('./scripts/libtorch.mjs'); const t = m.resolve({ variant: 'cuda' }); m.record(t); console.log(t.version, t.variant, t.root)" || exit 1
  stamp "build the CUDA variant"
  if ! timeout 400 node scripts/build.mjs --variant cuda > "$OUT/build.log" 2>&1; then
    grep -m 30 -iE "error|fatal" "$OUT/build.log"; tail -20 "$OUT/build.log"; exit 1
  fi
  tail -2 "$OUT/build.log"
  stamp "linkage"
  node scripts/check-linkage.mjs --variant cuda 2>&1 | tail -4
  stamp "tests"
  timeout 200 node node_modules/vitest/vitest.mjs run $TESTS > "$OUT/tests.log" 2>&1
  cp .vitest-report.json "$OUT/vitest-report.json" 2>/dev/null
  grep -E "✗|×|FAIL|Test Files|Tests " "$OUT/tests.log" | head -40
  stamp "benchmarks"
  TSX="node node_modules/tsx/dist/cli.mjs" # a variable, not a function: timeout runs programs
  { timeout 100 $TSX benchmarks/kernels/hard-views.ts cuda; timeout 80 $TSX benchmarks/kernels/losses.ts cuda; } > "$OUT/bench-kernels.log" 2>&1
  # one round: the GPU time is short and a GPU drifts less than this 2-core VM
  timeout 90 $TSX benchmarks/train/step.ts 256 64 10 cuda 1 > "$OUT/bench-step.log" 2>&1
  stamp "done"
  grep -E "^\||^#|^[a-z].*\|" "$OUT/bench-kernels.log" | cut -c1-160
  grep -vE "^\s*$" "$OUT/bench-step.log" | cut -c1-160
} 2>&1 | tee "$OUT/check.log"
