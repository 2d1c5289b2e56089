#!/usr/bin/env bash
# Builds the C++ core and its tests (test/cpp/) with AddressSanitizer and
# UndefinedBehaviorSanitizer (CMakePresets.json: asan, build tree build-asan/) and runs them.
#   scripts/sanitize.sh [test-name-filter]
# Needs the LibTorch of `npm install` (vendor/torch-home) and the CPU variant; no Node.
# Exit status: the tests' (any sanitizer report fails the run: ASan aborts on its first
# error, UBSan is built with -fno-sanitize-recover).
#
# LibTorch itself is not instrumented. What that means for the options below:
# - Our code and the ATen/c10 headers it inlines are checked; memory LibTorch's own (.so)
#   code touches is checked only where it goes through malloc/free (ASan intercepts those).
# - LeakSanitizer runs with no suppressions. LibTorch's process-lifetime objects (operator
#   registries, thread pools, allocator caches) stay reachable from its globals, so they are
#   not reported; measured: none. (A suppression by library name, leak:libc10.so, would also
#   hide every tensor our code leaks, since tensors are allocated inside c10: add none.)
# - UBSan's vptr check needs the type info of classes defined in LibTorch: it has it (LibTorch
#   is built with RTTI), so no check is disabled.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
jobs=${HEXA_BUILD_JOBS:-$(nproc)}
cmake --preset asan >/dev/null
cmake --build --preset asan --parallel "$jobs"
echo "sanitize.sh: built in $(( $(date +%s) - t0 )) s"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:detect_stack_use_after_return=1:strict_init_order=1:check_initialization_order=1:detect_odr_violation=2${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
t1=$(date +%s)
status=0
build-asan/hexa_core_tests "${1:-}" || status=$?
echo "sanitize.sh: tests ran in $(( $(date +%s) - t1 )) s, exit $status"
exit $status
