// Shared by the kernels' dispatchers (<name>.cpp): the error for a device this build cannot run.
//
//   if (x.is_cpu()) return detail::fooCpu(x);
//   #ifdef HEXA_WITH_CUDA
//   if (x.is_cuda()) return detail::fooCuda(x);
//   #endif
//   detail::unsupportedDevice("foo", x.device());
#pragma once
#include <ATen/ATen.h>
#include <ATen/record_function.h>

// Names a fused kernel's call in LibTorch's profiler, as ATen names its ops ("hexa::cutmix"
// beside "aten::conv2d"): without it, a kernel called outside an op (a forward inside a custom
// autograd Function, a trainer's direct call) is time the profile cannot attribute. While no
// profiler runs this costs a check of a flag.
#define HEXA_RECORD_KERNEL(name) RECORD_FUNCTION(name, c10::ArrayRef<const c10::IValue>{})

namespace hexa::kernels::detail {

[[noreturn]] inline void unsupportedDevice(const char* op, const at::Device& device) {
#ifdef HEXA_WITH_CUDA
  TORCH_CHECK(false, op, ": tensors on ", device, " are not supported (CPU and CUDA only)");
#else
  TORCH_CHECK(false, op, ": tensors on ", device, " need the CUDA build of hexa-torch; this one is CPU only");
#endif
}

// The batch size and the elements per sample of a tensor whose dim 0 is the batch.
inline std::pair<int64_t, int64_t> batchAndSampleSize(const at::Tensor& x) {
  const int64_t n = x.size(0);
  return {n, n == 0 ? 0 : x.numel() / n};
}

}  // namespace hexa::kernels::detail
