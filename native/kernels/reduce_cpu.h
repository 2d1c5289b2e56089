// Sums of squares for the CPU kernels, accumulated in double over several independent lanes
// so the compiler vectorises them without -ffast-math (and float inputs lose nothing).
#pragma once
#include <cstdint>

namespace hexa::kernels::detail {

inline constexpr int kReduceLanes = 8;

// Σ f(i)² for i in [0, len), where f(i) returns the i-th value.
template <class F>
double sumOfSquaredDifferences(int64_t len, F f) {
  double lanes[kReduceLanes] = {};
  int64_t i = 0;
  for (; i + kReduceLanes <= len; i += kReduceLanes) {
    for (int k = 0; k < kReduceLanes; ++k) {
      const double v = static_cast<double>(f(i + k));
      lanes[k] += v * v;
    }
  }
  double total = 0;
  for (; i < len; ++i) {
    const double v = static_cast<double>(f(i));
    total += v * v;
  }
  for (double l : lanes) total += l;
  return total;
}

template <class T>
double sumOfSquares(const T* __restrict p, int64_t len) {
  return sumOfSquaredDifferences(len, [p](int64_t i) { return p[i]; });
}

}  // namespace hexa::kernels::detail
