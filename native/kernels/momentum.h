// The key encoder's momentum (EMA) update over whole parameter lists, and the buffer copy.
#pragma once
#include <ATen/ATen.h>

#include <vector>

namespace hexa::kernels {

// θt ← m·θt + (1 − m)·θs for every pair (targets[i], sources[i]), in place; m in [0, 1].
// Pairs match in shape, dtype (float32/float64) and device; the list may mix dtypes.
// CPU: one at::parallel_for over (tensor, 64Ki-element chunk) work items of every
// dense pair (on the calling thread alone when they hold under 32Ki elements in all). CUDA:
// one multi-tensor launch per dtype for up to 120 pairs (more pairs: more launches), its
// chunks sized to one wave of the device. A dense pair is contiguous, or laid out alike in one
// dense block (channels-last filters); other pairs go through ATen.
void momentumUpdate(const std::vector<at::Tensor>& targets, const std::vector<at::Tensor>& sources, double m);

// targets[i].copy_(sources[i]) for every pair. MoCo's key encoder normally keeps its own BN
// running statistics (they come from its own forward passes), so trainers do not call this
// by default; it serves the option of tying buffers to the query encoder's.
void copyBuffers(const std::vector<at::Tensor>& targets, const std::vector<at::Tensor>& sources);

namespace detail {

inline constexpr int64_t kMomentumChunk = int64_t{1} << 16;

// Contiguous pairs of one device, any floating dtype each.
void momentumUpdateCpu(const std::vector<at::Tensor>& targets, const std::vector<at::Tensor>& sources, double m);
#ifdef HEXA_WITH_CUDA
void momentumUpdateCuda(const std::vector<at::Tensor>& targets, const std::vector<at::Tensor>& sources, double m);
#endif

}  // namespace detail

}  // namespace hexa::kernels
