// MoCo's key queue: a ring buffer of the last K keys (He et al. 2020).
#pragma once
#include <ATen/ATen.h>

namespace hexa::kernels {

// Writes keys [N, C] into queue [K, C] at rows ptr, ptr+1, ... modulo K (N <= K; K need not
// divide by N) and returns the next pointer (ptr + N) mod K. At most two block copies
// (before and after the wrap) through Tensor::copy_, which is already memcpy on the CPU and
// cudaMemcpyAsync/one copy kernel on CUDA: a custom kernel could not move fewer bytes.
int64_t enqueue(const at::Tensor& queue, const at::Tensor& keys, int64_t ptr);

// The same ring write with the pointer a 0-dim int64 tensor on the queue's device, advanced
// there to (ptr + N) mod K: no host read, so a CUDA graph can replay it (rows (ptr + i) mod K
// through one index_copy_). ptr must be in [0, K) (the caller's invariant: not read here).
void enqueueAt(const at::Tensor& queue, const at::Tensor& keys, const at::Tensor& ptr);

}  // namespace hexa::kernels
