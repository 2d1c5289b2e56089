// The factories of the c10d backends, each in its own file so that gloo's and NCCL's headers
// (and USE_C10D_GLOO / USE_C10D_NCCL) are seen by that file only. CMakeLists.txt compiles
// backend_gloo.cpp when gloo's headers were fetched (HEXA_WITH_GLOO) and backend_nccl.cpp in
// the CUDA variant (HEXA_WITH_NCCL); process_group.cpp calls only what was compiled.
#pragma once
#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <chrono>
#include <string>

namespace hexa::dist {

// `masterAddr`: a loopback master means every rank is on this host (bind loopback).
c10::intrusive_ptr<c10d::Backend> MakeGlooBackend(const c10::intrusive_ptr<c10d::Store>& store, int rank, int worldSize,
                                                  std::chrono::milliseconds timeout, const std::string& masterAddr);
c10::intrusive_ptr<c10d::Backend> MakeNcclBackend(const c10::intrusive_ptr<c10d::Store>& store, int rank, int worldSize,
                                                  std::chrono::milliseconds timeout);

}  // namespace hexa::dist
