#include "kernels/momentum.h"

#include "kernels/device_dispatch.h"

namespace hexa::kernels {

namespace {
void checkPairs(const char* op, const std::vector<at::Tensor>& targets, const std::vector<at::Tensor>& sources) {
  TORCH_CHECK(targets.size() == sources.size(), op, ": target has ", targets.size(), " tensors but source has ",
              sources.size());
  for (size_t i = 0; i < targets.size(); ++i) {
    const auto &t = targets[i], &s = sources[i];
    TORCH_CHECK(t.sizes() == s.sizes() && t.scalar_type() == s.scalar_type() && t.device() == s.device(), op,
                ": target[", i, "] and source[", i, "] must match in shape, dtype and device");
  }
}
}  // namespace

void momentumUpdate(const std::vector<at::Tensor>& targets, const std::vector<at::Tensor>& sources, double m) {
  HEXA_RECORD_KERNEL("hexa::momentumUpdate");
  checkPairs("momentumUpdate", targets, sources);
  TORCH_CHECK(m >= 0 && m <= 1, "momentumUpdate: m must be in [0, 1], got ", m);
  // Pairs laid out alike in one dense block (contiguous, or channels-last filters in both) are
  // elementwise over their storage: grouped per device for the fused paths; the rest through ATen.
  std::vector<at::Tensor> cpuT, cpuS, cudaT, cudaS;
  for (size_t i = 0; i < targets.size(); ++i) {
    const auto &t = targets[i], &s = sources[i];
    TORCH_CHECK(t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble, "momentumUpdate: target[", i,
                "] must be float32 or float64");
    if (t.numel() == 0) continue;
    if (!t.is_non_overlapping_and_dense() || t.strides() != s.strides()) {
      t.mul_(m).add_(s, 1 - m);
    } else if (t.is_cpu()) {
      cpuT.push_back(t), cpuS.push_back(s);
    } else if (t.is_cuda()) {
      cudaT.push_back(t), cudaS.push_back(s);
    } else {
      detail::unsupportedDevice("momentumUpdate", t.device());
    }
  }
  if (!cpuT.empty()) detail::momentumUpdateCpu(cpuT, cpuS, m);
  if (!cudaT.empty()) {
#ifdef HEXA_WITH_CUDA
    detail::momentumUpdateCuda(cudaT, cudaS, m);
#else
    detail::unsupportedDevice("momentumUpdate", cudaT[0].device());
#endif
  }
}

void copyBuffers(const std::vector<at::Tensor>& targets, const std::vector<at::Tensor>& sources) {
  HEXA_RECORD_KERNEL("hexa::copyBuffers");
  checkPairs("copyBuffers", targets, sources);
  for (size_t i = 0; i < targets.size(); ++i) {
    at::Tensor t = targets[i];
    t.copy_(sources[i]);
  }
}

}  // namespace hexa::kernels
