// The fused BatchNorm + add + ReLU on the CPU (batch_norm_act.h): each function is one
// parallel region over rows of C channels. Reductions accumulate in float64 per thread (one
// slot per OpenMP thread, merged in thread order afterwards). Activations are float32 or
// bfloat16 (read into float32, computed there, rounded once to nearest even on the way out).
#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>

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

// Written with GCC vector types because plain loops here stay scalar (float -> double
// conversions) and branch on the ReLU's mask (a mispredicted branch per element); these are
// branch-free. Element-wise passes take 8 channels at a time in float32 lanes; reductions 4,
// widened to float64 lanes (a 32-byte vector each: GCC spills wider ones to the stack).
constexpr int64_t kLanes = 8;
typedef float F8 __attribute__((vector_size(32)));
typedef float F8u __attribute__((vector_size(32), aligned(4), __may_alias__));
typedef float F4 __attribute__((vector_size(16)));
typedef float F4u __attribute__((vector_size(16), aligned(4), __may_alias__));
typedef double D4 __attribute__((vector_size(32)));
typedef double D4u __attribute__((vector_size(32), aligned(8), __may_alias__));
HEXA_ALWAYS_INLINE F8 LoadF(const float* p) { return *reinterpret_cast<const F8u*>(p); }
HEXA_ALWAYS_INLINE void StoreF(float* p, F8 v) { *reinterpret_cast<F8u*>(p) = v; }
HEXA_ALWAYS_INLINE F4 LoadF4(const float* p) { return *reinterpret_cast<const F4u*>(p); }
HEXA_ALWAYS_INLINE D4 LoadD(const double* p) { return *reinterpret_cast<const D4u*>(p); }
HEXA_ALWAYS_INLINE void StoreD(double* p, D4 v) { *reinterpret_cast<D4u*>(p) = v; }
// Spelled element by element: GCC 12 lowers __builtin_convertvector(F4 -> D4) as two 2-lane
// conversions and an insert, but this as one vcvtps2pd (folding the load), as the casts below.
HEXA_ALWAYS_INLINE D4 Widen(F4 v) { return D4{v[0], v[1], v[2], v[3]}; }

// bfloat16 is the upper half of a float32: widening is a shift; narrowing rounds to nearest
// even as c10::BFloat16 does (a NaN becomes its quiet NaN 0x7FC0).
// The loads are spelled element by element for the same reason: one vpmovzxwd from memory
// each (a vector-typed 8-byte load became ten instructions, and halved the bf16 passes' speed).
typedef uint16_t H8 __attribute__((vector_size(16)));
typedef uint16_t H8u __attribute__((vector_size(16), aligned(2), __may_alias__));
typedef uint32_t U8 __attribute__((vector_size(32)));
typedef uint32_t U4 __attribute__((vector_size(16)));
HEXA_ALWAYS_INLINE F8 LoadF(const c10::BFloat16* p) {
  const uint16_t* h = reinterpret_cast<const uint16_t*>(p);
  return reinterpret_cast<F8>(U8{h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]} << 16);
}
HEXA_ALWAYS_INLINE F4 LoadF4(const c10::BFloat16* p) {
  const uint16_t* h = reinterpret_cast<const uint16_t*>(p);
  return reinterpret_cast<F4>(U4{h[0], h[1], h[2], h[3]} << 16);
}
HEXA_ALWAYS_INLINE void StoreF(c10::BFloat16* p, F8 v) {
  const U8 bits = reinterpret_cast<U8>(v);
  const U8 rounded = (bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16;
  const U8 quietNaN = {0x7FC0u, 0x7FC0u, 0x7FC0u, 0x7FC0u, 0x7FC0u, 0x7FC0u, 0x7FC0u, 0x7FC0u};
  *reinterpret_cast<H8u*>(p) = __builtin_convertvector(v != v ? quietNaN : rounded, H8);
}
// One element: float32 as it is, bfloat16 through c10's conversions (the same rounding).
HEXA_ALWAYS_INLINE float Get(const float* p, int64_t i) { return p[i]; }
HEXA_ALWAYS_INLINE float Get(const c10::BFloat16* p, int64_t i) { return static_cast<float>(p[i]); }
HEXA_ALWAYS_INLINE void Put(float* p, int64_t i, float v) { p[i] = v; }
HEXA_ALWAYS_INLINE void Put(c10::BFloat16* p, int64_t i, float v) { p[i] = c10::BFloat16(v); }

// Element-wise passes, row by row over [r0, r1): vec(i, c) for each group of 8 channels
// starting at element i, channel c, then one(i, c) for each channel left over.
template <class Vec, class One>
HEXA_ALWAYS_INLINE void ForRows(int64_t r0, int64_t r1, int64_t C, Vec vec, One one) {
  const int64_t C8 = C - C % kLanes;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t o = r * C;
    int64_t c = 0;
    for (; c < C8; c += kLanes) vec(o + c, c);
    for (; c < C; ++c) one(o + c, c);
  }
}

// Reductions: two per-channel float64 sums over rows [r0, r1) of terms(i, c) -> {p, q} (4
// channels from element i) and one(i, c) -> {p, q} (one channel), added into s1 and s2 row
// after row. The sums of 16 channels stay in registers over a block of rows (eight
// independent add chains) and go back to s1 / s2 between blocks: every channel's additions
// are the same, in the same order, as adding each row into s1 / s2 in memory, which is what
// these passes did before, slower (each add waited on the store before it).
constexpr int64_t kSumLanes = 4, kBlockRows = 64;

struct Pair4 {
  D4 p, q;
};
struct Pair1 {
  double p, q;
};

template <class Terms, class One>
HEXA_ALWAYS_INLINE void SumRows(int64_t r0, int64_t r1, int64_t C, double* s1, double* s2, Terms terms, One one) {
  for (int64_t rb = r0; rb < r1; rb += kBlockRows) {
    const int64_t re = std::min(r1, rb + kBlockRows);
    int64_t c = 0;
    for (; c + 4 * kSumLanes <= C; c += 4 * kSumLanes) {
      D4 a[4], b[4];
      for (int k = 0; k < 4; ++k) {
        a[k] = LoadD(s1 + c + k * kSumLanes);
        b[k] = LoadD(s2 + c + k * kSumLanes);
      }
      for (int64_t r = rb; r < re; ++r) {
        for (int k = 0; k < 4; ++k) {
          const Pair4 t = terms(r * C + c + k * kSumLanes, c + k * kSumLanes);
          a[k] += t.p;
          b[k] += t.q;
        }
      }
      for (int k = 0; k < 4; ++k) {
        StoreD(s1 + c + k * kSumLanes, a[k]);
        StoreD(s2 + c + k * kSumLanes, b[k]);
      }
    }
    for (; c + kSumLanes <= C; c += kSumLanes) {
      D4 a = LoadD(s1 + c), b = LoadD(s2 + c);
      for (int64_t r = rb; r < re; ++r) {
        const Pair4 t = terms(r * C + c, c);
        a += t.p;
        b += t.q;
      }
      StoreD(s1 + c, a);
      StoreD(s2 + c, b);
    }
    for (; c < C; ++c) {
      for (int64_t r = rb; r < re; ++r) {
        const Pair1 t = one(r * C + c, c);
        s1[c] += t.p;
        s2[c] += t.q;
      }
    }
  }
}

template <class T>
HEXA_ALWAYS_INLINE void StatsRowsOf(const T* x, int64_t r0, int64_t r1, int64_t C, const float* shift, double* s1,
                                   double* s2) {
  SumRows(
      r0, r1, C, s1, s2,
      [&](int64_t i, int64_t c) {
        const D4 d = Widen(LoadF4(x + i)) - Widen(LoadF4(shift + c));
        return Pair4{d, d * d};
      },
      [&](int64_t i, int64_t c) {
        const double d = static_cast<double>(Get(x, i)) - static_cast<double>(shift[c]);
        return Pair1{d, d * d};
      });
}

// ReLU as ATen's (clamp_min 0): a NaN stays NaN. V: float or a float vector.
template <class V>
HEXA_ALWAYS_INLINE V Relu(V v) {
  const V zero = {};
  return v < zero ? zero : v;
}

template <bool Residual, bool ReluOn, class T>
HEXA_ALWAYS_INLINE void ApplyRowsOf(const T* x, const T* res, T* out, int64_t r0, int64_t r1, int64_t C,
                                    const float* a, const float* b) {
  ForRows(
      r0, r1, C,
      [&](int64_t i, int64_t c) {
        F8 v = LoadF(x + i) * LoadF(a + c) + LoadF(b + c);
        if constexpr (Residual) v += LoadF(res + i);
        if constexpr (ReluOn) v = Relu(v);
        StoreF(out + i, v);
      },
      [&](int64_t i, int64_t c) {
        float v = Get(x, i) * a[c] + b[c];
        if constexpr (Residual) v += Get(res, i);
        if constexpr (ReluOn) v = Relu(v);
        Put(out, i, v);
      });
}

// The gradient reaching the BatchNorm's output: through the ReLU where its output was > 0
// (as ATen's threshold_backward).
template <bool ReluOn, class V>
HEXA_ALWAYS_INLINE V Upstream(V dy, V y) {
  if constexpr (ReluOn) {
    const V zero = {};
    return y > zero ? dy : zero;
  }
  return dy;
}

template <bool ReluOn, class T>
HEXA_ALWAYS_INLINE void GradSumRowsOf(const T* dy, const T* x, const T* y, int64_t r0, int64_t r1, int64_t C,
                                      const float* mean, double* sg, double* sgx) {
  SumRows(
      r0, r1, C, sg, sgx,
      [&](int64_t i, int64_t c) {
        const D4 g = Widen(Upstream<ReluOn>(LoadF4(dy + i), LoadF4(y + i)));
        return Pair4{g, g * (Widen(LoadF4(x + i)) - Widen(LoadF4(mean + c)))};
      },
      [&](int64_t i, int64_t c) {
        const double g = Upstream<ReluOn>(Get(dy, i), Get(y, i));
        return Pair1{g, g * (static_cast<double>(Get(x, i)) - static_cast<double>(mean[c]))};
      });
}

template <bool Residual, bool ReluOn, class T>
HEXA_ALWAYS_INLINE void GradInputRowsOf(const T* dy, const T* x, const T* y, T* dx, T* dr, int64_t r0, int64_t r1,
                                        int64_t C, const float* mean, const float* k1, const float* k2,
                                        const float* k3) {
  ForRows(
      r0, r1, C,
      [&](int64_t i, int64_t c) {
        const F8 g = Upstream<ReluOn>(LoadF(dy + i), LoadF(y + i));
        if constexpr (Residual) StoreF(dr + i, g);
        StoreF(dx + i, (g - LoadF(k2 + c) - (LoadF(x + i) - LoadF(mean + c)) * LoadF(k3 + c)) * LoadF(k1 + c));
      },
      [&](int64_t i, int64_t c) {
        const float g = Upstream<ReluOn>(Get(dy, i), Get(y, i));
        if constexpr (Residual) Put(dr, i, g);
        Put(dx, i, (g - k2[c] - (Get(x, i) - mean[c]) * k3[c]) * k1[c]);
      });
}

// The variants of each kernel for an activation type, chosen at run time (inlined into the
// clones below).
template <class T>
HEXA_ALWAYS_INLINE void ApplyRowsAs(const T* x, const T* res, T* out, int64_t r0, int64_t r1, int64_t C,
                                    const float* a, const float* b, bool relu) {
  if (res != nullptr) {
    relu ? ApplyRowsOf<true, true>(x, res, out, r0, r1, C, a, b) : ApplyRowsOf<true, false>(x, res, out, r0, r1, C, a, b);
  } else {
    relu ? ApplyRowsOf<false, true>(x, res, out, r0, r1, C, a, b) : ApplyRowsOf<false, false>(x, res, out, r0, r1, C, a, b);
  }
}

template <class T>
HEXA_ALWAYS_INLINE void GradSumRowsAs(const T* dy, const T* x, const T* y, int64_t r0, int64_t r1, int64_t C,
                                      const float* mean, double* sg, double* sgx, bool relu) {
  relu ? GradSumRowsOf<true>(dy, x, y, r0, r1, C, mean, sg, sgx) : GradSumRowsOf<false>(dy, x, y, r0, r1, C, mean, sg, sgx);
}

template <class T>
HEXA_ALWAYS_INLINE void GradInputRowsAs(const T* dy, const T* x, const T* y, T* dx, T* dr, int64_t r0, int64_t r1,
                                        int64_t C, const float* mean, const float* k1, const float* k2,
                                        const float* k3, bool relu) {
  if (dr != nullptr) {
    relu ? GradInputRowsOf<true, true>(dy, x, y, dx, dr, r0, r1, C, mean, k1, k2, k3)
         : GradInputRowsOf<true, false>(dy, x, y, dx, dr, r0, r1, C, mean, k1, k2, k3);
  } else {
    relu ? GradInputRowsOf<false, true>(dy, x, y, dx, dr, r0, r1, C, mean, k1, k2, k3)
         : GradInputRowsOf<false, false>(dy, x, y, dx, dr, r0, r1, C, mean, k1, k2, k3);
  }
}

// One function per kernel and activation type, compiled for each CPU clone (target_clones
// takes no templates, so the types are overloads).
#define HEXA_BN_ACT_CLONES(T)                                                                                         \
  HEXA_CPU_CLONES void StatsRows(const T* x, int64_t r0, int64_t r1, int64_t C, const float* shift, double* s1,      \
                                 double* s2) {                                                                       \
    StatsRowsOf(x, r0, r1, C, shift, s1, s2);                                                                        \
  }                                                                                                                  \
  HEXA_CPU_CLONES void ApplyRows(const T* x, const T* res, T* out, int64_t r0, int64_t r1, int64_t C, const float* a, \
                                 const float* b, bool relu) {                                                        \
    ApplyRowsAs(x, res, out, r0, r1, C, a, b, relu);                                                                 \
  }                                                                                                                  \
  HEXA_CPU_CLONES void GradSumRows(const T* dy, const T* x, const T* y, int64_t r0, int64_t r1, int64_t C,           \
                                   const float* mean, double* sg, double* sgx, bool relu) {                          \
    GradSumRowsAs(dy, x, y, r0, r1, C, mean, sg, sgx, relu);                                                         \
  }                                                                                                                  \
  HEXA_CPU_CLONES void GradInputRows(const T* dy, const T* x, const T* y, T* dx, T* dr, int64_t r0, int64_t r1,      \
                                     int64_t C, const float* mean, const float* k1, const float* k2, const float* k3, \
                                     bool relu) {                                                                    \
    GradInputRowsAs(dy, x, y, dx, dr, r0, r1, C, mean, k1, k2, k3, relu);                                            \
  }
HEXA_BN_ACT_CLONES(float)
HEXA_BN_ACT_CLONES(c10::BFloat16)
#undef HEXA_BN_ACT_CLONES

}  // namespace

template <class T>
void batchNormActStatsCpu(const T* x, int64_t rows, int64_t channels, double* sum, double* sumSquares,
                          const float* shift) {
  ThreadSums sums(channels, 2);
  at::parallel_for(0, rows, RowGrain(channels), [&](int64_t begin, int64_t end) {
    StatsRows(x, begin, end, channels, shift, sums.slot(0), sums.slot(1));
  });
  sums.merge(0, sum);
  sums.merge(1, sumSquares);
}

template <class T>
void batchNormActApplyCpu(const T* x, const T* residual, T* out, int64_t rows, int64_t channels, const float* scale,
                          const float* offset, bool relu) {
  at::parallel_for(0, rows, RowGrain(channels), [&](int64_t begin, int64_t end) {
    ApplyRows(x, residual, out, begin, end, channels, scale, offset, relu);
  });
}

template <class T>
void batchNormActGradSumsCpu(const T* gradOut, const T* x, const T* y, int64_t rows, int64_t channels,
                             const float* mean, bool relu, double* sumGrad, double* sumGradCentered) {
  ThreadSums sums(channels, 2);
  at::parallel_for(0, rows, RowGrain(channels), [&](int64_t begin, int64_t end) {
    GradSumRows(gradOut, x, y, begin, end, channels, mean, sums.slot(0), sums.slot(1), relu);
  });
  sums.merge(0, sumGrad);
  sums.merge(1, sumGradCentered);
}

template <class T>
void batchNormActGradInputCpu(const T* gradOut, const T* x, const T* y, T* gradInput, T* gradResidual, int64_t rows,
                              int64_t channels, const float* mean, const float* k1, const float* k2, const float* k3,
                              bool relu) {
  at::parallel_for(0, rows, RowGrain(channels), [&](int64_t begin, int64_t end) {
    GradInputRows(gradOut, x, y, gradInput, gradResidual, begin, end, channels, mean, k1, k2, k3, relu);
  });
}

#define HEXA_BN_ACT_INSTANTIATE(T)                                                                                   \
  template void batchNormActStatsCpu<T>(const T*, int64_t, int64_t, double*, double*, const float*);                 \
  template void batchNormActApplyCpu<T>(const T*, const T*, T*, int64_t, int64_t, const float*, const float*, bool); \
  template void batchNormActGradSumsCpu<T>(const T*, const T*, const T*, int64_t, int64_t, const float*, bool,       \
                                           double*, double*);                                                        \
  template void batchNormActGradInputCpu<T>(const T*, const T*, const T*, T*, T*, int64_t, int64_t, const float*,    \
                                            const float*, const float*, const float*, bool);
HEXA_BN_ACT_INSTANTIATE(float)
HEXA_BN_ACT_INSTANTIATE(c10::BFloat16)
#undef HEXA_BN_ACT_INSTANTIATE

}  // namespace hexa::kernels::detail
