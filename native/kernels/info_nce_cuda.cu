// CUDA part of InfoNCE that is not a GEMM: the positive logits q_i . k_i, one warp per row,
// written straight into column 0 of the logits buffer. float4 loads when rows allow it.
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>

#include "kernels/cuda_reduce.cuh"
#include "kernels/info_nce.h"

namespace hexa::kernels {
namespace {

constexpr int kWarpsPerBlock = 8;

template <class T>
__global__ void RowwiseDotKernel(T* __restrict__ out, int64_t out_stride, const T* __restrict__ q,
                                 const T* __restrict__ k, int64_t n, int64_t c) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= n) return;
  const T* qr = q + row * c;
  const T* kr = k + row * c;
  T acc = 0;
  int64_t j0 = 0;
  if constexpr (sizeof(T) == 4) {
    // 16-byte loads when every row starts 16-byte aligned (c % 4 == 0 and aligned bases).
    if (c % 4 == 0 && reinterpret_cast<uintptr_t>(q) % 16 == 0 && reinterpret_cast<uintptr_t>(k) % 16 == 0) {
      const float4* q4 = reinterpret_cast<const float4*>(qr);
      const float4* k4 = reinterpret_cast<const float4*>(kr);
      for (int64_t j = lane; j < c / 4; j += 32) {
        const float4 a = q4[j], b = k4[j];
        acc += a.x * b.x + a.y * b.y + a.z * b.z + a.w * b.w;
      }
      j0 = c;
    }
  }
  for (int64_t j = j0 + lane; j < c; j += 32) acc += qr[j] * kr[j];
  acc = cuda::WarpSum(acc);
  if (lane == 0) out[row * out_stride] = acc;
}

}  // namespace

void rowwise_dot_cuda(at::Tensor& out, const at::Tensor& q, const at::Tensor& k) {
  at::Tensor qc = q.contiguous(), kc = k.contiguous();
  AT_DISPATCH_FLOATING_TYPES(q.scalar_type(), "rowwise_dot_cuda", [&] {
    const int64_t n = q.size(0), c = q.size(1);
    const auto blocks = static_cast<unsigned>((n + kWarpsPerBlock - 1) / kWarpsPerBlock);
    RowwiseDotKernel<scalar_t><<<blocks, kWarpsPerBlock * 32, 0, at::cuda::getCurrentCUDAStream()>>>(
        out.data_ptr<scalar_t>(), out.stride(0), qc.const_data_ptr<scalar_t>(), kc.const_data_ptr<scalar_t>(), n, c);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

}  // namespace hexa::kernels
