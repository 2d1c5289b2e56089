// The NCCL backend (CUDA tensors), compiled in the CUDA variant only. The only file that
// includes ProcessGroupNCCL.hpp (with USE_C10D_NCCL); its code is in libtorch_cuda, which
// already links libnccl from the wheel.
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

#include "dist/backends.h"

namespace hexa::dist {

c10::intrusive_ptr<c10d::Backend> MakeNcclBackend(const c10::intrusive_ptr<c10d::Store>& store, int rank, int worldSize,
                                                  std::chrono::milliseconds timeout) {
  auto options = c10d::ProcessGroupNCCL::Options::create();
  options->timeout = timeout;
  return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, worldSize, options);
}

}  // namespace hexa::dist
