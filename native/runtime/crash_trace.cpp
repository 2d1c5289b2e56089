#include "runtime/crash_trace.h"

#include <execinfo.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <mutex>

namespace hexa::runtime {
namespace {

void WriteText(const char* text) {
  ssize_t ignored = write(STDERR_FILENO, text, std::strlen(text));
  (void)ignored;
}

// Fixed names: strsignal() may take locale locks, which a handler must not.
const char* SignalName(int signal) {
  switch (signal) {
    case SIGSEGV: return "SIGSEGV";
    case SIGABRT: return "SIGABRT";
    case SIGBUS: return "SIGBUS";
    case SIGILL: return "SIGILL";
    case SIGFPE: return "SIGFPE";
    default: return "?";
  }
}

void OnFatalSignal(int signal) {
  // write() only, and glibc's backtrace()/backtrace_symbols_fd(): not on POSIX's safe list, but
  // made to be called from crash handlers once the unwinder is loaded (done at install). The
  // process is dying anyway; what counts is that nothing here allocates or takes a lock.
  WriteText("\n[hexa-torch crash trace] fatal signal ");
  WriteText(SignalName(signal));
  WriteText(", native call stack:\n");
  void* frames[64];
  const int count = backtrace(frames, 64);
  backtrace_symbols_fd(frames, count, STDERR_FILENO);
  WriteText("[hexa-torch crash trace] end\n");
  // SA_RESETHAND restored the default action: die of the same signal (core, exit status).
  raise(signal);
}

}  // namespace

void InstallCrashTraceIfRequested() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* asked = std::getenv("HEXA_TORCH_CRASH_TRACE");
    if (asked == nullptr || std::strcmp(asked, "1") != 0) return;
    void* warm[1];
    backtrace(warm, 1);  // loads libgcc's unwinder now, not inside the handler
    struct sigaction action {};
    action.sa_handler = OnFatalSignal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESETHAND | SA_NODEFER;
    for (int s : {SIGSEGV, SIGABRT, SIGBUS, SIGILL, SIGFPE}) sigaction(s, &action, nullptr);
  });
}

}  // namespace hexa::runtime
