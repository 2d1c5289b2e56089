// PGD step on CUDA. L∞: one elementwise kernel, 16-byte accesses when the three inputs and
// the output are aligned. L2: one reduction kernel for the three per-sample sums that give
// ‖grad‖ and ‖δ‖ (pgd_l2.h; blocks spread over (chunk, sample), double atomics) and one write
// kernel: two reads of the inputs, one write, no host sync.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>

#include "kernels/cuda_launch.cuh"
#include "kernels/device_dispatch.h"
#include "kernels/pgd.h"
#include "kernels/pgd_l2.h"

namespace hexa::kernels::detail {

namespace {

template <class T>
struct LinfParams {
  T step, eps, lo, hi;
};

// As torch.clamp and the CPU kernel: a NaN x stays NaN (fmin/fmax would drop it).
template <class T>
__device__ __forceinline__ T clampKeepNaN(T x, T lo, T hi) {
  x = x < lo ? lo : x;
  return hi < x ? hi : x;
}

template <class T>
__device__ __forceinline__ T linfOne(T a, T c, T g, const LinfParams<T>& p) {
  const T sign = static_cast<T>(g > T(0)) - static_cast<T>(g < T(0));
  const T x = clampKeepNaN(a + p.step * sign, c - p.eps, c + p.eps);
  return clampKeepNaN(x, p.lo, p.hi);
}

template <class T>
__global__ void linfPacked(const T* a, const T* c, const T* g, T* out, int64_t packs, LinfParams<T> p) {
  using P = Pack<T>;
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; k < packs; k += int64_t(gridDim.x) * blockDim.x) {
    const P va = reinterpret_cast<const P*>(a)[k], vc = reinterpret_cast<const P*>(c)[k],
            vg = reinterpret_cast<const P*>(g)[k];
    P r;
#pragma unroll
    for (int j = 0; j < P::kSize; ++j) r.v[j] = linfOne(va.v[j], vc.v[j], vg.v[j], p);
    reinterpret_cast<P*>(out)[k] = r;
  }
}

template <class T>
__global__ void linfScalar(const T* a, const T* c, const T* g, T* out, int64_t begin, int64_t numel,
                           LinfParams<T> p) {
  for (int64_t i = begin + blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < numel;
       i += int64_t(gridDim.x) * blockDim.x)
    out[i] = linfOne(a[i], c[i], g[i], p);
}

// Per-sample Σg², Σu², Σu·g (u = xAdv − xClean, pgd_l2.h), added into sums[3·sample + k]
// (zeroed before). grid.y walks the samples, grid.x the chunks of one sample.
template <class T>
__global__ void l2Sums(const T* a, const T* c, const T* g, int64_t n, int64_t d, double* sums) {
  __shared__ double partial[3][kThreads / 32];
  for (int64_t s = blockIdx.y; s < n; s += gridDim.y) {
    double acc[3] = {0, 0, 0};
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < d; i += int64_t(gridDim.x) * blockDim.x) {
      const int64_t k = s * d + i;
      const double gv = static_cast<double>(g[k]);
      const double uv = static_cast<double>(a[k]) - static_cast<double>(c[k]);
      acc[0] += gv * gv, acc[1] += uv * uv, acc[2] += uv * gv;
    }
#pragma unroll
    for (int j = 0; j < 3; ++j) {
      for (int off = 16; off > 0; off /= 2) acc[j] += __shfl_down_sync(0xffffffff, acc[j], off);
      if (threadIdx.x % 32 == 0) partial[j][threadIdx.x / 32] = acc[j];
    }
    __syncthreads();
    if (threadIdx.x < 3) {
      double total = 0;
      for (int w = 0; w < kThreads / 32; ++w) total += partial[threadIdx.x][w];
      atomicAdd(sums + 3 * s + threadIdx.x, total);
    }
    __syncthreads();
  }
}

template <class T>
__global__ void l2Write(const T* a, const T* c, const T* g, T* out, int64_t n, int64_t d, const double* sums,
                        double stepSize, double eps, T lo, T hi) {
  for (int64_t s = blockIdx.y; s < n; s += gridDim.y) {
    const L2Factors f = l2Factors(L2SampleSums{sums[3 * s], sums[3 * s + 1], sums[3 * s + 2]}, stepSize, eps);
    const T scale = static_cast<T>(f.scale), shrink = static_cast<T>(f.shrink);
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < d; i += int64_t(gridDim.x) * blockDim.x) {
      const int64_t k = s * d + i;
      const T delta = (a[k] + scale * g[k]) - c[k];
      out[k] = clampKeepNaN(c[k] + delta * shrink, lo, hi);
    }
  }
}

template <class T>
void linf(const T* a, const T* c, const T* g, T* out, int64_t numel, const PgdStepOptions& o, cudaStream_t stream) {
  const LinfParams<T> p{static_cast<T>(o.stepSize), static_cast<T>(o.eps), static_cast<T>(o.min),
                        static_cast<T>(o.max)};
  int64_t done = 0;
  if (aligned16(a) && aligned16(c) && aligned16(g) && aligned16(out)) {
    const int64_t packs = numel / Pack<T>::kSize;
    if (packs > 0) {
      linfPacked<<<gridFor(packs), kThreads, 0, stream>>>(a, c, g, out, packs, p);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    }
    done = packs * Pack<T>::kSize;
  }
  if (done < numel) {
    linfScalar<<<gridFor(numel - done), kThreads, 0, stream>>>(a, c, g, out, done, numel, p);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
}

template <class T>
void l2(const T* a, const T* c, const T* g, T* out, int64_t n, int64_t d, const PgdStepOptions& o,
        const at::Tensor& like, cudaStream_t stream) {
  at::Tensor sums = at::zeros({n, 3}, like.options().dtype(at::kDouble));
  const int64_t chunksPerSample = std::max<int64_t>(1, std::min<int64_t>((d + kThreads * 8 - 1) / (kThreads * 8), 64));
  const dim3 grid(static_cast<unsigned>(chunksPerSample), static_cast<unsigned>(std::min<int64_t>(n, 65535)));
  l2Sums<T><<<grid, kThreads, 0, stream>>>(a, c, g, n, d, sums.data_ptr<double>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  l2Write<T><<<grid, kThreads, 0, stream>>>(a, c, g, out, n, d, sums.const_data_ptr<double>(), o.stepSize, o.eps,
                                            static_cast<T>(o.min), static_cast<T>(o.max));
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace

void pgdStepCuda(const at::Tensor& xAdv, const at::Tensor& xClean, const at::Tensor& grad, const at::Tensor& out,
                 const PgdStepOptions& o) {
  const c10::cuda::CUDAGuard guard(out.device());
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  const auto [n, d] = batchAndSampleSize(xAdv);
  AT_DISPATCH_FLOATING_TYPES(xAdv.scalar_type(), "pgdStepCuda", [&] {
    const auto* a = xAdv.const_data_ptr<scalar_t>();
    const auto* c = xClean.const_data_ptr<scalar_t>();
    const auto* g = grad.const_data_ptr<scalar_t>();
    auto* r = out.mutable_data_ptr<scalar_t>();
    if (o.norm == PgdNorm::Linf) linf(a, c, g, r, xAdv.numel(), o, stream);
    else l2(a, c, g, r, n, d, o, out, stream);
  });
}

}  // namespace hexa::kernels::detail
