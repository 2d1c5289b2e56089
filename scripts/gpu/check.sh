#!/usr/bin/env bash
# First call on a lent GPU machine (README.md in this folder): build the CUDA variant against
# the machine's Python PyTorch, check its linkage, run the test files that hold CUDA tests
# (they run there instead of skipping) and the GPU benchmarks. A lease is ~15 minutes, all
# tries together, so every phase has its own time limit (a full run took 192 s on an H200)
# and writes its log under $OUT as it goes: what ran before a kill still comes back.
#   run: bash scripts/gpu/check.sh      carry: .devcarry dist      timeout_s: 480
#   (CHECK_PARTS="tests bf16" bash scripts/gpu/check.sh: build, tests, the CPU bf16 probes: ~3 min)
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/gpu/setup.sh
T0=$(date +%s)
stamp() { echo "[gpu +$(($(date +%s) - T0))s] $*"; }
# The files with CUDA tests (their CPU tests run in CI): only the tests that need a GPU (-t),
# each trainer file in its own process (a native crash in one leaves the others' results) and
# the rest in one more, all side by side; HEXA_TEST_TRACE names the test a dead worker was in.
TRAIN_TESTS=${CHECK_TRAIN_TESTS-"cuda-graph precision moco-step dcluster-step"}
OTHER_TESTS=${CHECK_OTHER_TESTS-"test/kernels test/augment.test.ts test/eval/knn.test.ts test/tensor.test.ts test/train/config.test.ts"}
# CHECK_PARTS: which parts run after the build (a rerun can skip the benchmarks); `bf16` runs
# the CPU bf16 step alone (a test worker died in LibTorch's CPU convolution backward on the
# H200 machine's Xeon) and scripts/repro/onednn_strided_1x1.py (the oneDNN fault behind it).
PARTS=${CHECK_PARTS:-"tests bench"}
# A native crash prints its call stack (native/runtime/crash_trace.h); symbolize() names the
# addon's own frames (hidden symbols: object+offset) with addr2line where the machine has it.
export HEXA_TORCH_CRASH_TRACE=1
NODE_BIN=variants/cuda/build/Release/hexa_torch.node
symbolize() {
  grep -q "crash trace" "$1" || return 0
  grep -A40 "crash trace\] fatal" "$1" | { command -v c++filt >/dev/null && c++filt || cat; } | cut -c1-200 | head -45
  if command -v addr2line >/dev/null; then
    # object(+0xoffset) frames of the addon and of LibTorch (whose wheels keep a symbol table:
    # addr2line names their hidden functions too)
    grep -oE "[^ ]*(hexa_torch\.node|libtorch_cpu\.so|libc10\.so)\(\+0x[0-9a-f]+\)" "$1" | head -30 |
      sed -E 's/^(.*)\(\+(0x[0-9a-f]+)\)$/\1 \2/' |
      while read -r obj a; do echo "  ${obj##*/} $a $(addr2line -f -C -e "$obj" "$a" | head -1 | cut -c1-160)"; done
  else
    echo "(no addr2line here: the binary is in \$OUT)"; cp "$NODE_BIN" "$OUT/" 2>/dev/null
  fi
}
TSX="node node_modules/tsx/dist/cli.mjs" # a variable, not a function: timeout runs programs
{
  stamp "machine"
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader
  echo "cpus $(nproc), node $(node --version), $(nvcc --version | tail -1)"
  python3 -c 'import torch; print("python torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())'
  stamp "record LibTorch (python3's torch)"
  node --input-type=module -e "const m = await import('./scripts/libtorch.mjs'); const t = m.resolve({ variant: 'cuda' }); m.record(t); console.log(t.version, t.variant, t.root)" || exit 1
  stamp "build the CUDA variant"
  # os.totalmem() there reads the VM's starting memory, not what it grows to: name the jobs.
  if ! HEXA_BUILD_JOBS=16 timeout 240 node scripts/build.mjs --variant cuda > "$OUT/build.log" 2>&1; then
    grep -m 30 -iE "error|fatal" "$OUT/build.log"; tail -20 "$OUT/build.log"; exit 1
  fi
  tail -2 "$OUT/build.log"
  stamp "linkage"
  node scripts/check-linkage.mjs --variant cuda 2>&1 | tail -4
  if [[ $PARTS == *tests* ]]; then
    stamp "tests"
    VITEST="node node_modules/vitest/vitest.mjs run --no-color -t needs.a.GPU"
    pids=()
    for f in $TRAIN_TESTS; do
      HEXA_TEST_TRACE=1 timeout -k 5 150 $VITEST test/train/$f.test.ts > "$OUT/test-$f.log" 2>&1 & pids+=($!)
    done
    [ -n "$OTHER_TESTS" ] && { HEXA_TEST_TRACE=1 timeout -k 5 150 $VITEST --fileParallelism --maxWorkers=6 $OTHER_TESTS > "$OUT/test-others.log" 2>&1 & pids+=($!); }
    for p in "${pids[@]}"; do wait "$p"; done
    pkill -9 -f node_modules/vitest 2>/dev/null  # a hung fork must not hold the GPU during the benchmarks
    for f in $TRAIN_TESTS ${OTHER_TESTS:+others}; do
      echo "-- $f: $(grep -E "^ +Tests " "$OUT/test-$f.log" | tr -s ' ')"
      grep -E "✗|×|FAIL|AssertionError|Error:|losses ours|relative error|worst|per step|double free|corruption|Segmentation|terminate|Aborted|exited unexpectedly" "$OUT/test-$f.log" \
        | grep -v "vitest-pool" | cut -c1-260 | head -40
      grep -F "[trace]" "$OUT/test-$f.log" | tail -2  # after a native crash: the test it was in
      symbolize "$OUT/test-$f.log"
    done
  fi
  if [[ $PARTS == *bf16* ]]; then
    stamp "cpu bf16"
    # The test that died here (2026-11-30, 16 threads) before ShortcutConv (native/models/resnet.cpp),
    # and the plain-PyTorch scan of the oneDNN kernel it avoids: which cases die on this CPU.
    HEXA_TEST_TRACE=1 timeout 90 node node_modules/vitest/vitest.mjs run --no-color -t "on cpu.*bf16" test/train/precision.test.ts > "$OUT/test-cpu-bf16.log" 2>&1
    echo "-- cpu bf16 test: exit $? $(grep -E "^ +Tests " "$OUT/test-cpu-bf16.log" | tr -s ' ')"
    grep -F "[trace]" "$OUT/test-cpu-bf16.log" | tail -2
    symbolize "$OUT/test-cpu-bf16.log"
    timeout 120 python3 scripts/repro/onednn_strided_1x1.py 2>&1 | tail -13; echo "oneDNN strided 1x1 scan exit ${PIPESTATUS[0]}"
  fi
  if [[ $PARTS == *bench* ]]; then
    stamp "kernel benchmarks"
    timeout 100 $TSX benchmarks/kernels/hard-views.ts cuda > "$OUT/bench-kernels.log" 2>&1
    echo "hard-views exit $?"
    timeout 40 $TSX benchmarks/runtime/dispatch.ts cuda > "$OUT/bench-dispatch.log" 2>&1
    echo "dispatch exit $?"
    stamp "step benchmark"
    # one round (a GPU drifts less than the 2-core VM); no torch.compile peers (minutes of compile)
    timeout 150 $TSX benchmarks/train/step.ts 256 64 10 cuda 1 no-compile > "$OUT/bench-step.log" 2>&1
    echo "step exit $?"
  fi
  stamp "done"
  if [[ $PARTS == *bench* ]]; then
    grep -hE "^\||^#|^[a-z].*\||copy bandwidth|FAILED" "$OUT/bench-kernels.log" "$OUT/bench-dispatch.log" | cut -c1-170
    grep -vE "^\s*$" "$OUT/bench-step.log" | cut -c1-170
  fi
} 2>&1 | tee "$OUT/check.log"
