// CUDA parts of k-means: a warp-per-row argmax over a chunk's GEMM output, and the centroid
// update by atomicAdd (member rows into per-cluster sums, 1 into counts) followed by one
// block per cluster that normalises its sum or keeps the previous row when empty.
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>

#include <limits>

#include "kernels/cuda_reduce.cuh"
#include "kernels/kmeans.h"

namespace hexa::kernels {
namespace {

using cuda::ValueIndex;
constexpr int kWarpsPerBlock = 8;

template <class T>
__global__ void RowsArgmaxKernel(const T* __restrict__ s, int64_t n, int64_t k, const T* __restrict__ x,
                                 const T* __restrict__ centroids, int64_t c, int64_t* __restrict__ index,
                                 T* __restrict__ best) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= n) return;
  const T* r = s + row * k;
  ValueIndex<T> b{-std::numeric_limits<T>::infinity(), INT64_MAX};
  for (int64_t j = lane; j < k; j += 32) {
    const T v = r[j];
    if (v > b.value) b = {v, j};
  }
  b = cuda::WarpArgMax(b);
  // Lane 0 holds the winner; a row of NaN/-inf only falls back to centroid 0 (as on the CPU).
  int64_t j = static_cast<int64_t>(__shfl_sync(0xffffffffu, static_cast<long long>(b.index), 0));
  if (j == INT64_MAX) j = 0;
  // The score again, as one warp dot product in a fixed order: independent of the chunking.
  T dot = 0;
  for (int64_t d = lane; d < c; d += 32) dot += x[row * c + d] * centroids[j * c + d];
  dot = cuda::WarpSum(dot);
  if (lane == 0) {
    index[row] = j;
    best[row] = dot;
  }
}

template <class T>
__global__ void ScatterAddKernel(const T* __restrict__ x, const int64_t* __restrict__ assignment, int64_t n, int64_t c,
                                 int64_t k, T* __restrict__ sums, unsigned long long* __restrict__ counts,
                                 unsigned long long* __restrict__ outside) {
  const int64_t total = n * c;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = e / c, d = e - i * c;
    // One volatile load: the value checked is the value used (the compiler may not reload it).
    const int64_t j = static_cast<const volatile int64_t*>(assignment)[i];
    // Out of range: counted (the host refuses the call) and skipped, never an out-of-bounds
    // write and never a device assert (which would poison the CUDA context).
    if (j < 0 || j >= k) {
      if (d == 0) atomicAdd(outside, 1ull);
      continue;
    }
    atomicAdd(sums + j * c + d, x[e]);
    if (d == 0) atomicAdd(counts + j, 1ull);
  }
}

template <class T>
__global__ void NormalizeOrKeepKernel(const T* __restrict__ sums, const int64_t* __restrict__ counts,
                                      const T* __restrict__ previous, int64_t c, T* __restrict__ out) {
  __shared__ T scratch[32];
  const int64_t j = blockIdx.x;
  const T* s = sums + j * c;
  T* dst = out + j * c;
  if (counts[j] == 0) {
    for (int64_t d = threadIdx.x; d < c; d += blockDim.x) dst[d] = previous[j * c + d];
    return;
  }
  T norm2 = 0;
  for (int64_t d = threadIdx.x; d < c; d += blockDim.x) norm2 += s[d] * s[d];
  norm2 = cuda::BlockSum(norm2, scratch);
  const T inv = T(1) / max(sqrt(norm2), T(1e-12));
  for (int64_t d = threadIdx.x; d < c; d += blockDim.x) dst[d] = s[d] * inv;
}

}  // namespace

void rows_argmax_cuda(const at::Tensor& scores, const at::Tensor& x, const at::Tensor& centroids, at::Tensor& index,
                      at::Tensor& best) {
  AT_DISPATCH_FLOATING_TYPES(scores.scalar_type(), "rows_argmax_cuda", [&] {
    const int64_t n = scores.size(0), k = scores.size(1);
    const auto blocks = static_cast<unsigned>((n + kWarpsPerBlock - 1) / kWarpsPerBlock);
    RowsArgmaxKernel<scalar_t><<<blocks, kWarpsPerBlock * 32, 0, at::cuda::getCurrentCUDAStream()>>>(
        scores.const_data_ptr<scalar_t>(), n, k, x.const_data_ptr<scalar_t>(), centroids.const_data_ptr<scalar_t>(),
        x.size(1), index.data_ptr<int64_t>(), best.data_ptr<scalar_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

void kmeans_update_cuda(const at::Tensor& x, const at::Tensor& assignment, const at::Tensor& previous,
                        at::Tensor& centroids, at::Tensor& counts) {
  const int64_t n = x.size(0), c = x.size(1), k = previous.size(0);
  // Separate sums so `centroids` may alias `previous`.
  at::Tensor sums = at::zeros({k, c}, x.options());
  counts.zero_();
  auto stream = at::cuda::getCurrentCUDAStream();
  // Assignments outside [0, k): counted by the scatter kernel, checked on the host (one sync)
  // before anything is written to `centroids` (which may be `previous`).
  at::Tensor outside = at::zeros({1}, counts.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "kmeans_update_cuda", [&] {
    if (n > 0) {
      const int64_t total = n * c;
      const auto blocks = static_cast<unsigned>(std::min<int64_t>((total + 255) / 256, 65535));
      ScatterAddKernel<scalar_t><<<blocks, 256, 0, stream>>>(
          x.const_data_ptr<scalar_t>(), assignment.const_data_ptr<int64_t>(), n, c, k, sums.data_ptr<scalar_t>(),
          reinterpret_cast<unsigned long long*>(counts.data_ptr<int64_t>()),
          reinterpret_cast<unsigned long long*>(outside.data_ptr<int64_t>()));
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      const int64_t bad = outside.item<int64_t>();
      TORCH_CHECK_VALUE(bad == 0, "kmeans_update_centroids: assignment must be in [0, ", k, "), got ", bad,
                        " value(s) outside");
    }
    NormalizeOrKeepKernel<scalar_t><<<static_cast<unsigned>(k), 128, 0, stream>>>(
        sums.const_data_ptr<scalar_t>(), counts.const_data_ptr<int64_t>(), previous.const_data_ptr<scalar_t>(), c,
        centroids.data_ptr<scalar_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

}  // namespace hexa::kernels
