// The L2 PGD step's per-sample algebra, shared by the CPU and CUDA kernels.
// With u = xAdv − xClean and s = stepSize / max(‖g‖, 1e-12), the stepped point's offset is
// δ = u + s·g, so ‖δ‖² = Σu² + 2s·Σu·g + s²·Σg²: one pass over the inputs yields both norms
// (the three sums, accumulated in double), and a second pass writes the result.
#pragma once
#include <math.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/pgd.h"

#ifdef __CUDACC__
#define HEXA_HOST_DEVICE __host__ __device__
#else
#define HEXA_HOST_DEVICE
#endif

namespace hexa::kernels::detail {

struct L2SampleSums {
  double gg = 0, uu = 0, ug = 0;  // Σg², Σu², Σu·g
};

struct L2Factors {
  double scale;   // stepSize / max(‖g‖, 1e-12)
  double shrink;  // eps / ‖δ‖ when ‖δ‖ > eps, else 1
};

HEXA_HOST_DEVICE inline L2Factors l2Factors(const L2SampleSums& s, double stepSize, double eps) {
  // ::sqrt/::fmax (not std::) so the same code compiles for the device.
  const double scale = stepSize / ::fmax(::sqrt(s.gg), kPgdNormFloor);
  const double deltaSq = ::fmax(0.0, s.uu + 2 * scale * s.ug + scale * scale * s.gg);
  const double deltaNorm = ::sqrt(deltaSq);
  return {scale, deltaNorm > eps ? eps / deltaNorm : 1.0};
}

inline L2Factors l2Factors(const L2SampleSums& s, const PgdStepOptions& o) { return l2Factors(s, o.stepSize, o.eps); }

// CPU: the sums over one sample of `len` values. Blocks of kBlock values are summed in T
// (in kLanes independent lanes, so the compiler vectorises without -ffast-math; a block is
// short enough that float rounding stays ~1e-7) and the block sums in double.
template <class T>
L2SampleSums l2SampleSums(const T* __restrict a, const T* __restrict c, const T* __restrict g, int64_t len) {
  constexpr int kLanes = 16;
  constexpr int64_t kBlock = 1024;
  L2SampleSums s;
  for (int64_t block = 0; block < len; block += kBlock) {
    const int64_t end = std::min(len, block + kBlock);
    T gg[kLanes] = {}, uu[kLanes] = {}, ug[kLanes] = {};
    int64_t i = block;
    for (; i + kLanes <= end; i += kLanes) {
      for (int k = 0; k < kLanes; ++k) {
        const T gv = g[i + k], uv = a[i + k] - c[i + k];
        gg[k] += gv * gv;
        uu[k] += uv * uv;
        ug[k] += uv * gv;
      }
    }
    for (; i < end; ++i) {
      const T gv = g[i], uv = a[i] - c[i];
      gg[0] += gv * gv, uu[0] += uv * uv, ug[0] += uv * gv;
    }
    for (int k = 0; k < kLanes; ++k) s.gg += gg[k], s.uu += uu[k], s.ug += ug[k];
  }
  return s;
}

}  // namespace hexa::kernels::detail

#undef HEXA_HOST_DEVICE
