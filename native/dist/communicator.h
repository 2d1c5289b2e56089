// What a data-parallel trainer needs from its peers: a few collectives on tensors, in the same
// order on every rank. Training code sees only this interface; the engines behind it are
// LibTorch's c10d backends (process_group.h: Gloo for CPU tensors, NCCL for CUDA tensors).
// Single-process training uses Single(): every collective is the identity, so a trainer has
// one code path for any world size.
#pragma once
#include <ATen/ATen.h>

#include <memory>
#include <string>
#include <vector>

namespace hexa::dist {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int worldSize() const = 0;
  // Element-wise sum over ranks, in place, every tensor of the list (one collective each).
  virtual void allReduceSum(std::vector<at::Tensor>& tensors) = 0;
  // Rank `root`'s values into every rank's tensors, in place.
  virtual void broadcast(std::vector<at::Tensor>& tensors, int root) = 0;
  // Every rank's `t` (same shape on all ranks), concatenated along dim 0 in rank order.
  virtual at::Tensor allGather(const at::Tensor& t) = 0;
  virtual void barrier() = 0;
  // What the communicator runs on ("single", "gloo", "nccl").
  virtual std::string backend() const = 0;
  bool distributed() const { return worldSize() > 1; }
};

// The world of one process.
std::shared_ptr<Communicator> Single();

// Gradient averaging as DDP does it: the gradients are flattened into buckets of at most
// `bucketBytes` (per dtype and device), each bucket all-reduced once and divided by the world
// size, then copied back. Parameters without a gradient are left out (every rank runs the same
// step plan, so they are the same on every rank). No-op single-process.
void AverageGradients(Communicator& comm, const std::vector<at::Tensor>& params, int64_t bucketBytes = 25 << 20);

// Rank 0's values of `tensors` (weights, buffers, method state) on every rank, bucketed the
// same way. No-op single-process.
void BroadcastFromRankZero(Communicator& comm, const std::vector<at::Tensor>& tensors, int64_t bucketBytes = 25 << 20);

}  // namespace hexa::dist
