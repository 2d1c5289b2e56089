// PGD step on CUDA. L∞: one elementwise kernel, 16-byte accesses when the three inputs and
// the output are aligned. L2: two reduction kernels (‖grad‖² then ‖δ‖² per sample, blocks
// spread over (chunk, sample) with double atomics) and one write kernel: three reads of the
// inputs, one write, no host sync.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>

#include "kernels/cuda_launch.cuh"
#include "kernels/device_dispatch.h"
#include "kernels/pgd.h"

namespace hexa::kernels::detail {

namespace {

template <class T>
struct LinfParams {
  T step, eps, lo, hi;
};

template <class T>
__device__ __forceinline__ T linfOne(T a, T c, T g, const LinfParams<T>& p) {
  const T sign = static_cast<T>(g > T(0)) - static_cast<T>(g < T(0));
  T x = a + p.step * sign;
  x = fmin(fmax(x, c - p.eps), c + p.eps);
  return fmin(fmax(x, p.lo), p.hi);
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

// Per-sample Σ v² with v = value(sample, i), summed into sums[sample] (zeroed before).
// grid.y walks the samples, grid.x the chunks of one sample.
template <class T, class Value>
__global__ void sampleSumOfSquares(int64_t n, int64_t d, double* sums, Value value) {
  __shared__ double partial[kThreads / 32];
  for (int64_t s = blockIdx.y; s < n; s += gridDim.y) {
    double acc = 0;
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < d; i += int64_t(gridDim.x) * blockDim.x) {
      const double v = static_cast<double>(value(s, i));
      acc += v * v;
    }
    for (int off = 16; off > 0; off /= 2) acc += __shfl_down_sync(0xffffffff, acc, off);
    if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = acc;
    __syncthreads();
    if (threadIdx.x == 0) {
      double total = 0;
      for (int w = 0; w < kThreads / 32; ++w) total += partial[w];
      atomicAdd(sums + s, total);
    }
    __syncthreads();
  }
}

template <class T>
struct StepScale {
  double stepSize;
  __device__ T operator()(const double* gradSq, int64_t s) const {
    return static_cast<T>(stepSize / fmax(sqrt(gradSq[s]), kPgdNormFloor));
  }
};

template <class T>
struct GradValue {
  const T* g;
  int64_t d;
  __device__ T operator()(int64_t s, int64_t i) const { return g[s * d + i]; }
};

// δ of the stepped point; l2Write recomputes it with the same expression.
template <class T>
struct DeltaValue {
  const T *a, *c, *g;
  int64_t d;
  const double* gradSq;
  double stepSize;
  __device__ T operator()(int64_t s, int64_t i) const {
    const T scale = StepScale<T>{stepSize}(gradSq, s);
    const int64_t k = s * d + i;
    return (a[k] + scale * g[k]) - c[k];
  }
};

template <class T>
__global__ void l2Write(const T* a, const T* c, const T* g, T* out, int64_t n, int64_t d, const double* gradSq,
                        const double* deltaSq, double stepSize, double eps, T lo, T hi) {
  for (int64_t s = blockIdx.y; s < n; s += gridDim.y) {
    const T scale = StepScale<T>{stepSize}(gradSq, s);
    const double deltaNorm = sqrt(deltaSq[s]);
    const T shrink = static_cast<T>(deltaNorm > eps ? eps / deltaNorm : 1.0);
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < d; i += int64_t(gridDim.x) * blockDim.x) {
      const int64_t k = s * d + i;
      const T delta = (a[k] + scale * g[k]) - c[k];
      out[k] = fmin(fmax(c[k] + delta * shrink, lo), hi);
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
  at::Tensor sums = at::zeros({2, n}, like.options().dtype(at::kDouble));
  double* gradSq = sums.data_ptr<double>();
  double* deltaSq = gradSq + n;
  const int64_t chunksPerSample = std::max<int64_t>(1, std::min<int64_t>((d + kThreads * 8 - 1) / (kThreads * 8), 64));
  const dim3 grid(static_cast<unsigned>(chunksPerSample), static_cast<unsigned>(std::min<int64_t>(n, 65535)));
  sampleSumOfSquares<T><<<grid, kThreads, 0, stream>>>(n, d, gradSq, GradValue<T>{g, d});
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  sampleSumOfSquares<T><<<grid, kThreads, 0, stream>>>(n, d, deltaSq, DeltaValue<T>{a, c, g, d, gradSq, o.stepSize});
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  l2Write<<<grid, kThreads, 0, stream>>>(a, c, g, out, n, d, gradSq, deltaSq, o.stepSize, o.eps,
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
