#include "runtime/profiler.h"

#include <torch/csrc/autograd/profiler_kineto.h>

namespace hexa::runtime {

namespace profiler = torch::autograd::profiler;
using torch::profiler::impl::ActivityType;
using torch::profiler::impl::ProfilerConfig;
using torch::profiler::impl::ProfilerState;

void StartProfiler() {
  TORCH_CHECK(!torch::profiler::impl::profilerEnabled(), "the profiler is already running");
  std::set<ActivityType> activities{ActivityType::CPU};
#ifdef HEXA_WITH_CUDA
  activities.insert(ActivityType::CUDA);
#endif
  const ProfilerConfig config(ProfilerState::KINETO);
  profiler::prepareProfiler(config, activities);
  profiler::enableProfiler(config, activities);
}

std::vector<ProfiledOp> StopProfiler() {
  TORCH_CHECK(torch::profiler::impl::profilerEnabled(), "the profiler is not running");
  std::unique_ptr<profiler::ProfilerResult> result = profiler::disableProfiler();
  std::vector<ProfiledOp> out;
  out.reserve(result->events().size());
  for (const profiler::KinetoEvent& e : result->events()) {
    out.push_back({e.name(), e.startNs(), e.endNs(), e.startThreadId()});
  }
  return out;
}

}  // namespace hexa::runtime
