// The Communicator of a multi-process run: a c10d TCPStore for the rendezvous and one c10d
// Backend for the collectives (Gloo for CPU tensors, NCCL for CUDA tensors), made by the one
// factory file of each engine (backend_gloo.cpp, backend_nccl.cpp). Every collective waits
// with an explicit timeout; a failure names this rank, the collective, and which peers stopped
// answering (each rank keeps a heartbeat in the store).
#pragma once
#include <chrono>
#include <memory>
#include <string>

#include "dist/communicator.h"

namespace hexa::dist {

struct ProcessGroupOptions {
  std::string backend = "gloo";  // "gloo" | "nccl"
  std::string masterAddr = "127.0.0.1";
  int masterPort = 29500;
  int rank = 0;
  int worldSize = 1;
  // Rendezvous and every collective; a peer that is silent this long fails the run.
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};
  // The CUDA device of this rank (NCCL only).
  int cudaDevice = 0;
};

// Which backends this build has, and why one is missing ("" when present).
struct BackendSupport {
  bool gloo = false, nccl = false;
  std::string glooMissing, ncclMissing;
};
BackendSupport SupportedBackends();

// Rendezvous with the other ranks (rank 0 hosts the store at masterAddr:masterPort) and
// connect the backend. Blocks until every rank arrived or the timeout passed.
std::shared_ptr<Communicator> ConnectProcessGroup(const ProcessGroupOptions& options);

}  // namespace hexa::dist
