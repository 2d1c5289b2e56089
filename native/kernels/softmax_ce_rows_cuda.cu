// CUDA row pass: one block per row (rows are long: K+1 up to ~65K columns), three sweeps
// over the row, which stays in L2 between them. Rows of InfoNCE's buffer start at an odd
// stride (K+1 columns), so loads are coalesced scalar loads, not float4.
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>

#include <limits>

#include "kernels/cuda_reduce.cuh"
#include "kernels/softmax_ce_rows.h"

namespace hexa::kernels {
namespace {

using cuda::BlockArgMax;
using cuda::BlockSum;
using cuda::ValueIndex;

__device__ __forceinline__ float ExpOf(float x) { return expf(x); }
__device__ __forceinline__ double ExpOf(double x) { return exp(x); }
__device__ __forceinline__ float LogOf(float x) { return logf(x); }
__device__ __forceinline__ double LogOf(double x) { return log(x); }

template <class T>
__global__ void SoftmaxCERowsKernel(T* __restrict__ logits, int64_t logits_stride, int64_t m, T scale,
                                    const T* __restrict__ soft, int64_t soft_stride,
                                    const int64_t* __restrict__ classes, int64_t fixed_class,
                                    T* __restrict__ row_loss, uint8_t* __restrict__ row_correct) {
  __shared__ T sum_scratch[32];
  __shared__ ValueIndex<T> arg_scratch[32];
  const T lowest = -std::numeric_limits<T>::infinity();
  const int64_t i = blockIdx.x;
  T* x = logits + i * logits_stride;
  const T* t = soft ? soft + i * soft_stride : nullptr;

  // Sweep 1: argmax of the logits; with soft targets also their argmax, mass and dot.
  ValueIndex<T> best{lowest, INT64_MAX}, best_target{lowest, INT64_MAX};
  T mass = 0, dot = 0;
  for (int64_t j = threadIdx.x; j < m; j += blockDim.x) {
    const T v = x[j];
    if (v > best.value) best = {v, j};  // j grows, so strict > keeps the first maximum
    if (t) {
      const T tv = t[j];
      if (tv > best_target.value) best_target = {tv, j};
      mass += tv;
      dot += tv * v;
    }
  }
  best = BlockArgMax(best, arg_scratch, lowest);
  int64_t target;
  if (t) {
    target = BlockArgMax(best_target, arg_scratch, lowest).index;
    mass = BlockSum(mass, sum_scratch);
    dot = BlockSum(dot, sum_scratch);
  } else {
    // One read for the whole block (thread 0, through shared memory), checked, then used:
    // an out-of-range class marks the row (row_correct = 2, checked on the host) and leaves
    // it, never an out-of-bounds read and never a device assert that poisons the context.
    // The target's logit is read here too, before the barrier: sweep 2 overwrites the row in
    // place, and the thread that owns column `target` may be in another warp that reaches
    // sweep 2 first (a read after the barrier would race with that write).
    __shared__ int64_t shared_target;
    __shared__ T shared_dot;
    if (threadIdx.x == 0) {
      const int64_t c = classes ? classes[i] : fixed_class;
      shared_target = c;
      if (c >= 0 && c < m) shared_dot = x[c];
    }
    __syncthreads();
    target = shared_target;
    if (target < 0 || target >= m) {
      if (threadIdx.x == 0) {
        row_loss[i] = std::numeric_limits<T>::quiet_NaN();
        row_correct[i] = 2;
      }
      return;
    }
    mass = 1;
    dot = shared_dot;
  }

  // Sweep 2: exp(z - max z) in place, and its sum.
  const T shift = scale * best.value;
  T sum = 0;
  for (int64_t j = threadIdx.x; j < m; j += blockDim.x) {
    const T e = ExpOf(scale * x[j] - shift);
    x[j] = e;
    sum += e;
  }
  sum = BlockSum(sum, sum_scratch);
  if (threadIdx.x == 0) {
    row_loss[i] = (shift + LogOf(sum)) * mass - scale * dot;
    row_correct[i] = best.index == target;
  }

  // Sweep 3: mass * softmax - targets (d row_loss / d z).
  const T inv = mass / sum;
  for (int64_t j = threadIdx.x; j < m; j += blockDim.x) {
    const T target_j = t ? t[j] : T(j == target);
    x[j] = x[j] * inv - target_j;
  }
}

}  // namespace

void softmax_ce_rows_cuda(at::Tensor& buffer, double scale, const RowTargets& targets, RowPassResult& out) {
  AT_DISPATCH_FLOATING_TYPES(buffer.scalar_type(), "softmax_ce_rows_cuda", [&] {
    const int64_t n = buffer.size(0), m = buffer.size(1);
    at::Tensor classes = targets.classes ? targets.classes->contiguous() : at::Tensor();
    const int threads = m >= 4096 ? 512 : m >= 512 ? 256 : 64;
    auto stream = at::cuda::getCurrentCUDAStream();
    SoftmaxCERowsKernel<scalar_t><<<static_cast<unsigned>(n), threads, 0, stream>>>(
        buffer.data_ptr<scalar_t>(), buffer.stride(0), m, static_cast<scalar_t>(scale),
        targets.soft ? targets.soft->const_data_ptr<scalar_t>() : nullptr, targets.soft ? targets.soft->stride(0) : 0,
        classes.defined() ? classes.const_data_ptr<int64_t>() : nullptr, targets.fixed_class,
        out.row_loss.data_ptr<scalar_t>(), out.row_correct.data_ptr<uint8_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

}  // namespace hexa::kernels
