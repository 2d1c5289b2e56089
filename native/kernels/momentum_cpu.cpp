// Momentum update on the CPU: the whole list in one parallel region. Every dense pair
// is cut into 64Ki-element work items; at::parallel_for spreads the items over the threads,
// so small tensors (biases, BN) share a thread instead of each paying a parallel region.
#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

#include "kernels/momentum.h"

namespace hexa::kernels::detail {

namespace {

struct WorkItem {
  void* target;
  const void* source;
  int64_t length;
  bool isDouble;
};

template <class T>
inline void blendLoop(T* __restrict t, const T* __restrict s, int64_t length, T m, T oneMinusM) {
  for (int64_t i = 0; i < length; ++i) t[i] = t[i] * m + s[i] * oneMinusM;
}

// AVX2 clone picked at load time where the CPU has it (the build targets baseline x86-64).
__attribute__((target_clones("avx2", "default"))) void blend(float* t, const float* s, int64_t length, float m,
                                                             float oneMinusM) {
  blendLoop(t, s, length, m, oneMinusM);
}
__attribute__((target_clones("avx2", "default"))) void blend(double* t, const double* s, int64_t length, double m,
                                                             double oneMinusM) {
  blendLoop(t, s, length, m, oneMinusM);
}

}  // namespace

void momentumUpdateCpu(const std::vector<at::Tensor>& targets, const std::vector<at::Tensor>& sources, double m) {
  std::vector<WorkItem> items;
  for (size_t i = 0; i < targets.size(); ++i) {
    const bool isDouble = targets[i].scalar_type() == at::kDouble;
    const size_t elementSize = isDouble ? sizeof(double) : sizeof(float);
    auto* t = static_cast<char*>(targets[i].data_ptr());
    const auto* s = static_cast<const char*>(sources[i].const_data_ptr());
    for (int64_t begin = 0; begin < targets[i].numel(); begin += kMomentumChunk) {
      const int64_t length = std::min(kMomentumChunk, targets[i].numel() - begin);
      items.push_back({t + begin * elementSize, s + begin * elementSize, length, isDouble});
    }
  }
  // One work item per thread at least; a list too small to pay for waking the other threads
  // (under ATen's grain of 32Ki elements in all: biases, a tiny model) runs on this one.
  int64_t total = 0;
  for (const WorkItem& w : items) total += w.length;
  const int64_t grain = total < at::internal::GRAIN_SIZE ? static_cast<int64_t>(items.size()) : 1;
  at::parallel_for(0, static_cast<int64_t>(items.size()), grain, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      const WorkItem& w = items[k];
      if (w.isDouble) {
        blend(static_cast<double*>(w.target), static_cast<const double*>(w.source), w.length, m, 1 - m);
      } else {
        blend(static_cast<float*>(w.target), static_cast<const float*>(w.source), w.length, static_cast<float>(m),
              static_cast<float>(1 - m));
      }
    }
  });
}

}  // namespace hexa::kernels::detail
