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

namespace hexa::kernels::simd {

constexpr int kLanes = 16;

template <class T>
HEXA_ALWAYS_INLINE T Max(const T* x, int64_t m) {
  T acc[kLanes];
  for (int l = 0; l < kLanes; ++l) acc[l] = x[0];
  int64_t j = 0;
  for (; j + kLanes <= m; j += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] = acc[l] < x[j + l] ? x[j + l] : acc[l];
  T r = acc[0];
  for (int l = 1; l < kLanes; ++l) r = r < acc[l] ? acc[l] : r;
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
// about 1 ulp), branch-free so the loop vectorises. Inputs below -87 give ~1e-38, not 0.
HEXA_ALWAYS_INLINE float Exp(float x) {
  x = std::min(std::max(x, -87.33654f), 88.37626f);
  const float n = std::floor(x * 1.44269504088896341f + 0.5f);
  x = x - n * 0.693359375f + n * 2.12194440e-4f;
  float y = 1.9875691500e-4f;
  y = y * x + 1.3981999507e-3f;
  y = y * x + 8.3334519073e-3f;
  y = y * x + 4.1665795894e-2f;
  y = y * x + 1.6666665459e-1f;
  y = y * x + 5.0000001201e-1f;
  y = y * x * x + x + 1.0f;
  const auto bits = static_cast<uint32_t>(static_cast<int32_t>(n) + 127) << 23;
  return y * std::bit_cast<float>(bits);
}
// float64 keeps libm's exp: its results must match a float64 reference to ~1e-15.
HEXA_ALWAYS_INLINE double Exp(double x) { return std::exp(x); }

// x[j] = exp(scale * x[j] - shift); returns the sum of the new values.
template <class T>
HEXA_ALWAYS_INLINE T ExpInPlaceSum(T* x, int64_t m, T scale, T shift) {
  T acc[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= m; j += kLanes)
    for (int l = 0; l < kLanes; ++l) {
      const T e = Exp(scale * x[j + l] - shift);
      x[j + l] = e;
      acc[l] += e;
    }
  T r = 0;
  for (; j < m; ++j) {
    x[j] = Exp(scale * x[j] - shift);
    r += x[j];
  }
  for (int l = 0; l < kLanes; ++l) r += acc[l];
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
