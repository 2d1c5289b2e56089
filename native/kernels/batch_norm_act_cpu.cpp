// The fused BatchNorm + add + ReLU on the CPU (batch_norm_act.h): each function is one
// parallel region over rows of C channels. Reductions accumulate in float64 per thread (one
// slot per OpenMP thread, merged in thread order afterwards).
#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

#include "kernels/batch_norm_act.h"
#include "kernels/cpu_simd.h"

namespace hexa::kernels::detail {

namespace {

// Rows per chunk: at least ATen's grain (32768 elements), so a small layer runs on one thread
// without waking the others.
int64_t RowGrain(int64_t channels) { return std::max<int64_t>(1, at::internal::GRAIN_SIZE / std::max<int64_t>(1, channels)); }

// Per-thread float64 accumulators: `count` arrays of C per thread, zeroed.
struct ThreadSums {
  ThreadSums(int64_t channels, int count)
      : channels(channels), count(count), data(static_cast<size_t>(at::get_num_threads()) * count * channels, 0.0) {}
  double* slot(int which) {
    return data.data() + (static_cast<size_t>(at::get_thread_num()) * count + which) * channels;
  }
  // Sum over threads of array `which`, in thread order.
  void merge(int which, double* out) const {
    std::fill(out, out + channels, 0.0);
    const size_t threads = data.size() / (static_cast<size_t>(count) * channels);
    for (size_t t = 0; t < threads; ++t) {
      const double* s = data.data() + (t * count + which) * channels;
      for (int64_t c = 0; c < channels; ++c) out[c] += s[c];
    }
  }
  int64_t channels;
  int count;
  std::vector<double> data;
};

// Four channels at a time: float lanes, widened to float64 lanes for the sums. Written with
// GCC vector types because plain loops here stay scalar (float -> double conversions) and
// branch on the ReLU's mask (a mispredicted branch per element); these are branch-free.
typedef float F4 __attribute__((vector_size(16)));
typedef float F4u __attribute__((vector_size(16), aligned(4), __may_alias__));
typedef double D4 __attribute__((vector_size(32)));
typedef double D4u __attribute__((vector_size(32), aligned(8), __may_alias__));
HEXA_ALWAYS_INLINE F4 LoadF(const float* p) { return *reinterpret_cast<const F4u*>(p); }
HEXA_ALWAYS_INLINE void StoreF(float* p, F4 v) { *reinterpret_cast<F4u*>(p) = v; }
HEXA_ALWAYS_INLINE D4 LoadD(const double* p) { return *reinterpret_cast<const D4u*>(p); }
HEXA_ALWAYS_INLINE void StoreD(double* p, D4 v) { *reinterpret_cast<D4u*>(p) = v; }
HEXA_ALWAYS_INLINE D4 Widen(F4 v) { return __builtin_convertvector(v, D4); }

// Row by row over [r0, r1): vec(i, c) for each group of 4 channels starting at element i,
// channel c, then one(i, c) for each channel left over.
template <class Vec, class One>
HEXA_ALWAYS_INLINE void ForRows(int64_t r0, int64_t r1, int64_t C, Vec vec, One one) {
  const int64_t C4 = C & ~int64_t{3};
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t o = r * C;
    int64_t c = 0;
    for (; c < C4; c += 4) vec(o + c, c);
    for (; c < C; ++c) one(o + c, c);
  }
}

HEXA_CPU_CLONES void StatsRows(const float* x, int64_t r0, int64_t r1, int64_t C, const float* shift, double* s1,
                               double* s2) {
  ForRows(
      r0, r1, C,
      [&](int64_t i, int64_t c) {
        const D4 d = Widen(LoadF(x + i)) - Widen(LoadF(shift + c));
        StoreD(s1 + c, LoadD(s1 + c) + d);
        StoreD(s2 + c, LoadD(s2 + c) + d * d);
      },
      [&](int64_t i, int64_t c) {
        const double d = static_cast<double>(x[i]) - static_cast<double>(shift[c]);
        s1[c] += d;
        s2[c] += d * d;
      });
}

// ReLU as ATen's (clamp_min 0): a NaN stays NaN.
HEXA_ALWAYS_INLINE float Relu(float v) { return v < 0.f ? 0.f : v; }
HEXA_ALWAYS_INLINE F4 Relu(F4 v) {
  const F4 zero = {};
  return v < zero ? zero : v;
}

template <bool Residual, bool ReluOn>
HEXA_ALWAYS_INLINE void ApplyRowsOf(const float* x, const float* res, float* out, int64_t r0, int64_t r1, int64_t C,
                                    const float* a, const float* b) {
  ForRows(
      r0, r1, C,
      [&](int64_t i, int64_t c) {
        F4 v = LoadF(x + i) * LoadF(a + c) + LoadF(b + c);
        if constexpr (Residual) v += LoadF(res + i);
        if constexpr (ReluOn) v = Relu(v);
        StoreF(out + i, v);
      },
      [&](int64_t i, int64_t c) {
        float v = x[i] * a[c] + b[c];
        if constexpr (Residual) v += res[i];
        if constexpr (ReluOn) v = Relu(v);
        out[i] = v;
      });
}

// The gradient reaching the BatchNorm's output: through the ReLU where its output was > 0
// (as ATen's threshold_backward).
template <bool ReluOn>
HEXA_ALWAYS_INLINE F4 Upstream(F4 dy, F4 y) {
  if constexpr (ReluOn) {
    const F4 zero = {};
    return y > zero ? dy : zero;
  }
  return dy;
}
template <bool ReluOn>
HEXA_ALWAYS_INLINE float Upstream(float dy, float y) {
  if constexpr (ReluOn) return y > 0.f ? dy : 0.f;
  return dy;
}

template <bool ReluOn>
HEXA_ALWAYS_INLINE void GradSumRowsOf(const float* dy, const float* x, const float* y, int64_t r0, int64_t r1,
                                      int64_t C, const float* mean, double* sg, double* sgx) {
  ForRows(
      r0, r1, C,
      [&](int64_t i, int64_t c) {
        const D4 g = Widen(Upstream<ReluOn>(LoadF(dy + i), LoadF(y + i)));
        StoreD(sg + c, LoadD(sg + c) + g);
        StoreD(sgx + c, LoadD(sgx + c) + g * (Widen(LoadF(x + i)) - Widen(LoadF(mean + c))));
      },
      [&](int64_t i, int64_t c) {
        const double g = Upstream<ReluOn>(dy[i], y[i]);
        sg[c] += g;
        sgx[c] += g * (static_cast<double>(x[i]) - static_cast<double>(mean[c]));
      });
}

template <bool Residual, bool ReluOn>
HEXA_ALWAYS_INLINE void GradInputRowsOf(const float* dy, const float* x, const float* y, float* dx, float* dr,
                                        int64_t r0, int64_t r1, int64_t C, const float* mean, const float* k1,
                                        const float* k2, const float* k3) {
  ForRows(
      r0, r1, C,
      [&](int64_t i, int64_t c) {
        const F4 g = Upstream<ReluOn>(LoadF(dy + i), LoadF(y + i));
        if constexpr (Residual) StoreF(dr + i, g);
        StoreF(dx + i, (g - LoadF(k2 + c) - (LoadF(x + i) - LoadF(mean + c)) * LoadF(k3 + c)) * LoadF(k1 + c));
      },
      [&](int64_t i, int64_t c) {
        const float g = Upstream<ReluOn>(dy[i], y[i]);
        if constexpr (Residual) dr[i] = g;
        dx[i] = (g - k2[c] - (x[i] - mean[c]) * k3[c]) * k1[c];
      });
}

// One function per kernel compiled for each CPU clone; the variants are inlined into it.
HEXA_CPU_CLONES void ApplyRows(const float* x, const float* res, float* out, int64_t r0, int64_t r1, int64_t C,
                               const float* a, const float* b, bool relu) {
  if (res != nullptr) {
    relu ? ApplyRowsOf<true, true>(x, res, out, r0, r1, C, a, b) : ApplyRowsOf<true, false>(x, res, out, r0, r1, C, a, b);
  } else {
    relu ? ApplyRowsOf<false, true>(x, res, out, r0, r1, C, a, b) : ApplyRowsOf<false, false>(x, res, out, r0, r1, C, a, b);
  }
}

HEXA_CPU_CLONES void GradSumRows(const float* dy, const float* x, const float* y, int64_t r0, int64_t r1, int64_t C,
                                 const float* mean, double* sg, double* sgx, bool relu) {
  relu ? GradSumRowsOf<true>(dy, x, y, r0, r1, C, mean, sg, sgx) : GradSumRowsOf<false>(dy, x, y, r0, r1, C, mean, sg, sgx);
}

HEXA_CPU_CLONES void GradInputRows(const float* dy, const float* x, const float* y, float* dx, float* dr, int64_t r0,
                                   int64_t r1, int64_t C, const float* mean, const float* k1, const float* k2,
                                   const float* k3, bool relu) {
  if (dr != nullptr) {
    relu ? GradInputRowsOf<true, true>(dy, x, y, dx, dr, r0, r1, C, mean, k1, k2, k3)
         : GradInputRowsOf<true, false>(dy, x, y, dx, dr, r0, r1, C, mean, k1, k2, k3);
  } else {
    relu ? GradInputRowsOf<false, true>(dy, x, y, dx, dr, r0, r1, C, mean, k1, k2, k3)
         : GradInputRowsOf<false, false>(dy, x, y, dx, dr, r0, r1, C, mean, k1, k2, k3);
  }
}

}  // namespace

void batchNormActStatsCpu(const float* x, int64_t rows, int64_t channels, double* sum, double* sumSquares,
                          const float* shift) {
  ThreadSums sums(channels, 2);
  at::parallel_for(0, rows, RowGrain(channels), [&](int64_t begin, int64_t end) {
    StatsRows(x, begin, end, channels, shift, sums.slot(0), sums.slot(1));
  });
  sums.merge(0, sum);
  sums.merge(1, sumSquares);
}

void batchNormActApplyCpu(const float* x, const float* residual, float* out, int64_t rows, int64_t channels,
                          const float* scale, const float* offset, bool relu) {
  at::parallel_for(0, rows, RowGrain(channels), [&](int64_t begin, int64_t end) {
    ApplyRows(x, residual, out, begin, end, channels, scale, offset, relu);
  });
}

void batchNormActGradSumsCpu(const float* gradOut, const float* x, const float* y, int64_t rows, int64_t channels,
                             const float* mean, bool relu, double* sumGrad, double* sumGradCentered) {
  ThreadSums sums(channels, 2);
  at::parallel_for(0, rows, RowGrain(channels), [&](int64_t begin, int64_t end) {
    GradSumRows(gradOut, x, y, begin, end, channels, mean, sums.slot(0), sums.slot(1), relu);
  });
  sums.merge(0, sumGrad);
  sums.merge(1, sumGradCentered);
}

void batchNormActGradInputCpu(const float* gradOut, const float* x, const float* y, float* gradInput,
                              float* gradResidual, int64_t rows, int64_t channels, const float* mean,
                              const float* k1, const float* k2, const float* k3, bool relu) {
  at::parallel_for(0, rows, RowGrain(channels), [&](int64_t begin, int64_t end) {
    GradInputRows(gradOut, x, y, gradInput, gradResidual, begin, end, channels, mean, k1, k2, k3, relu);
  });
}

}  // namespace hexa::kernels::detail
