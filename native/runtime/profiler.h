// LibTorch's own profiler (the one torch.profiler drives), around the ops of the calling
// thread: every op of the addon runs on the compute thread, so start and stop run there too.
// Used by benchmarks/train/profile.ts to put our training step beside PyTorch's, op by op.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace hexa::runtime {

struct ProfiledOp {
  std::string name;
  uint64_t startNs;
  uint64_t endNs;
  uint64_t threadId;
};

// Starts recording CPU ops (and CUDA kernels where built with CUDA) on this thread.
void StartProfiler();
// Stops and returns every recorded op (nesting is recovered from the intervals).
std::vector<ProfiledOp> StopProfiler();
// Stops the profiler if it is running on this thread, dropping what it recorded: for a thread
// about to exit (LibTorch warns "Leaked callback handle" when a running profiler's
// thread-local state is destroyed, e.g. a process that exits after start() without stop()).
void DiscardProfiler() noexcept;

}  // namespace hexa::runtime
