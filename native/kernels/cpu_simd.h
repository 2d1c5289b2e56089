// Small row primitives for the CPU kernels, written as plain loops over 16 independent
// lanes so GCC vectorises them without -ffast-math (a lane array keeps the reduction order
// fixed, so results are deterministic and identical for every thread count). The callers
// instantiate them inside functions compiled twice with HEXA_CPU_CLONES (AVX2+FMA and a
// baseline), picked at load time by the CPU, because ATen's at::vec falls back to scalar
// code in a translation unit built without CPU_CAPABILITY flags.
#pragma once
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define HEXA_CPU_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define HEXA_CPU_CLONES
#endif
#define HEXA_ALWAYS_INLINE inline __attribute__((always_inline))

// Vector-typed arguments only pass between always-inline helpers of one translation unit,
// so GCC's note that AVX vectors change the calling convention does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace hexa::kernels::simd {

constexpr int kLanes = 16;

// GCC vector extensions for the loops it will not vectorise from plain code (a max
// reduction, exp): 32-byte vectors, lowered to AVX2 in the x86-64-v3 clone, to SSE pairs in
// the baseline. Unaligned loads/stores through may_alias types.
template <class T>
struct VecOf;
template <>
struct VecOf<float> {
  typedef float type __attribute__((vector_size(32)));
  typedef float unaligned __attribute__((vector_size(32), aligned(4), __may_alias__));
};
template <>
struct VecOf<double> {
  typedef double type __attribute__((vector_size(32)));
  typedef double unaligned __attribute__((vector_size(32), aligned(8), __may_alias__));
};
template <class T>
using Vec = typename VecOf<T>::type;
template <class T>
constexpr int kVecLanes = 32 / sizeof(T);

template <class T>
HEXA_ALWAYS_INLINE Vec<T> Load(const T* p) {
  return *reinterpret_cast<const typename VecOf<T>::unaligned*>(p);
}
template <class T>
HEXA_ALWAYS_INLINE void Store(T* p, Vec<T> v) {
  *reinterpret_cast<typename VecOf<T>::unaligned*>(p) = v;
}
template <class T>
HEXA_ALWAYS_INLINE Vec<T> Splat(T v) {
  return Vec<T>{} + v;
}

template <class T>
HEXA_ALWAYS_INLINE T Max(const T* x, int64_t m) {
  constexpr int L = kVecLanes<T>;
  T r = x[0];
  int64_t j = 0;
  if (m >= 2 * L) {
    Vec<T> a = Load(x), b = Load(x + L);
    for (j = 2 * L; j + 2 * L <= m; j += 2 * L) {
      const Vec<T> u = Load(x + j), v = Load(x + j + L);
      a = a < u ? u : a;
      b = b < v ? v : b;
    }
    a = a < b ? b : a;
    for (int l = 0; l < L; ++l) r = r < a[l] ? a[l] : r;
  }
  for (; j < m; ++j) r = r < x[j] ? x[j] : r;
  return r;
}

template <class T>
HEXA_ALWAYS_INLINE T Sum(const T* x, int64_t m) {
  T acc[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= m; j += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] += x[j + l];
  T r = 0;
  for (; j < m; ++j) r += x[j];
  for (int l = 0; l < kLanes; ++l) r += acc[l];
  return r;
}

template <class T>
HEXA_ALWAYS_INLINE T Dot(const T* a, const T* b, int64_t m) {
  T acc[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= m; j += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] += a[j + l] * b[j + l];
  T r = 0;
  for (; j < m; ++j) r += a[j] * b[j];
  for (int l = 0; l < kLanes; ++l) r += acc[l];
  return r;
}

// exp for float, Cephes' expf (range reduction by ln 2 in two parts + degree-6 polynomial,
// about 1 ulp), branch-free on 8 lanes. n = round(x log2 e) by the 1.5 * 2^23 trick (exact
// for |n| < 2^22). Inputs below -87.3 give ~1e-38, not 0.
HEXA_ALWAYS_INLINE Vec<float> Exp(Vec<float> x) {
  typedef int32_t v8si __attribute__((vector_size(32)));
  const Vec<float> lo = Splat(-87.33654f), hi = Splat(88.37626f);
  x = x < lo ? lo : x;
  x = x > hi ? hi : x;
  const Vec<float> magic = Splat(12582912.0f);
  const Vec<float> n = (x * 1.44269504088896341f + magic) - magic;
  x = x - n * 0.693359375f + n * 2.12194440e-4f;
  Vec<float> y = Splat(1.9875691500e-4f);
  y = y * x + 1.3981999507e-3f;
  y = y * x + 8.3334519073e-3f;
  y = y * x + 4.1665795894e-2f;
  y = y * x + 1.6666665459e-1f;
  y = y * x + 5.0000001201e-1f;
  y = y * x * x + x + 1.0f;
  const v8si bits = (__builtin_convertvector(n, v8si) + 127) << 23;
  return y * std::bit_cast<Vec<float>>(bits);
}
HEXA_ALWAYS_INLINE float Exp(float x) { return Exp(Splat(x))[0]; }
// float64 keeps libm's exp: its results must match a float64 reference to ~1e-15.
HEXA_ALWAYS_INLINE double Exp(double x) { return std::exp(x); }
HEXA_ALWAYS_INLINE Vec<double> Exp(Vec<double> x) {
  for (int l = 0; l < 4; ++l) x[l] = std::exp(x[l]);
  return x;
}

// x[j] = exp(scale * x[j] - shift); returns the sum of the new values.
template <class T>
HEXA_ALWAYS_INLINE T ExpInPlaceSum(T* x, int64_t m, T scale, T shift) {
  constexpr int L = kVecLanes<T>;
  Vec<T> a = Splat(T(0)), b = Splat(T(0));
  int64_t j = 0;
  for (; j + 2 * L <= m; j += 2 * L) {
    const Vec<T> u = Exp(Load(x + j) * scale - shift), v = Exp(Load(x + j + L) * scale - shift);
    Store(x + j, u);
    Store(x + j + L, v);
    a += u;
    b += v;
  }
  a += b;
  T r = 0;
  for (; j < m; ++j) {
    x[j] = Exp(scale * x[j] - shift);
    r += x[j];
  }
  for (int l = 0; l < L; ++l) r += a[l];
  return r;
}

// x[j] = x[j] * s - t[j]  (t may be null: then x[j] * s).
template <class T>
HEXA_ALWAYS_INLINE void ScaleSub(T* x, int64_t m, T s, const T* t) {
  if (t) {
    for (int64_t j = 0; j < m; ++j) x[j] = x[j] * s - t[j];
  } else {
    for (int64_t j = 0; j < m; ++j) x[j] *= s;
  }
}

// The first j with x[j] == v (v taken from x, so it exists); m if none.
template <class T>
HEXA_ALWAYS_INLINE int64_t FirstEqual(const T* x, int64_t m, T v) {
  for (int64_t j = 0; j < m; ++j)
    if (x[j] == v) return j;
  return m;
}

}  // namespace hexa::kernels::simd
