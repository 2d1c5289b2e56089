#!/usr/bin/env bash
# The JS tests (all, or the vitest arguments given) under glibc's heap consistency checks:
# every free() verifies its block's bounds, so a write past the end of a heap block by any code
# in the process (ours, LibTorch's, oneDNN's; instrumented or not) aborts at that block's free
# instead of corrupting the heap silently. Our CPU caching allocator is turned off
# (HEXA_TORCH_NO_CPU_CACHING=1) so that every tensor's block is freed, hence checked, at once.
#   scripts/heapcheck.sh [vitest args, e.g. test/train/precision.test.ts -t bf16]
# About as fast as a plain run (the whole suite: 246 s here, CI's plain run 265 s); the tests
# that need the cache in-process skip themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
lib=$({ ldconfig -p || /sbin/ldconfig -p; } 2>/dev/null | awk '/libc_malloc_debug\.so\.0/ { print $NF; exit }')
if [ -z "$lib" ]; then
  echo "heapcheck.sh: glibc's libc_malloc_debug.so.0 was not found (glibc 2.34 and later ship it)" >&2
  exit 2
fi
export HEXA_TORCH_NO_CPU_CACHING=1 LD_PRELOAD="$lib" GLIBC_TUNABLES=glibc.malloc.check=3
exec node node_modules/vitest/vitest.mjs run "$@"
