// Opt-in native crash trace: with HEXA_TORCH_CRASH_TRACE=1 in the environment, a fatal signal
// (SIGSEGV, SIGABRT, SIGBUS, SIGILL, SIGFPE) first writes the faulting thread's call stack to
// stderr (glibc's backtrace_symbols_fd: `object(symbol+offset)` or `object(+offset)` for
// hidden symbols, which `addr2line -f -C -e <object> <offset>` names), then dies of the same
// signal. For crashes in native code that leave a Node process with no message (a test worker
// that "exited unexpectedly"); scripts/gpu/check.sh sets it.
#pragma once

namespace hexa::runtime {

// Installs the handlers when the environment asks for them; idempotent.
void InstallCrashTraceIfRequested();

}  // namespace hexa::runtime
