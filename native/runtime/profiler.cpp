#include "runtime/profiler.h"

#include <torch/csrc/autograd/profiler_legacy.h>

#include <vector>

namespace hexa::runtime {

namespace profiler = torch::autograd::profiler;
using torch::profiler::impl::ProfilerConfig;
using torch::profiler::impl::ProfilerState;

// LibTorch's CPU-side ("legacy") profiler: the op ranges torch.profiler records on the CPU,
// without Kineto, whose client registered on the main thread at load and prints warnings to
// stderr when driven from another thread (ours: the compute thread).
void StartProfiler() {
  TORCH_CHECK(!torch::profiler::impl::profilerEnabled(), "the profiler is already running");
  profiler::enableProfilerLegacy(ProfilerConfig(ProfilerState::CPU));
}

std::vector<ProfiledOp> StopProfiler() {
  TORCH_CHECK(torch::profiler::impl::profilerEnabled(), "the profiler is not running");
  profiler::thread_event_lists lists = profiler::disableProfilerLegacy();
  std::vector<ProfiledOp> out;
  for (const auto& list : lists) {
    // Ranges arrive as push/pop pairs in order per thread: a stack pairs them.
    std::vector<const profiler::LegacyEvent*> open;
    for (const profiler::LegacyEvent& e : list) {
      if (e.kind() == profiler::EventKind::PushRange) {
        open.push_back(&e);
      } else if (e.kind() == profiler::EventKind::PopRange && !open.empty()) {
        const profiler::LegacyEvent& start = *open.back();
        open.pop_back();
        out.push_back({start.name(), static_cast<uint64_t>(start.cpuUs() * 1e3), static_cast<uint64_t>(e.cpuUs() * 1e3),
                       start.threadId()});
      }
    }
  }
  return out;
}

void DiscardProfiler() noexcept {
  try {
    if (torch::profiler::impl::profilerEnabled()) profiler::disableProfilerLegacy();
  } catch (...) {
    // Nothing to report to: the thread is exiting.
  }
}

}  // namespace hexa::runtime
