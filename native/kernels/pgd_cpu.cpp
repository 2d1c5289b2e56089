// PGD step on the CPU. L∞ is one elementwise pass (parallel over flat chunks). L2 works per
// sample, in parallel over the batch: one pass for the three sums that give ‖grad‖ and ‖δ‖
// (pgd_l2.h), then the write pass, back to back so the second read comes from cache.
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>

#include "kernels/device_dispatch.h"
#include "kernels/pgd.h"
#include "kernels/pgd_l2.h"

namespace hexa::kernels::detail {

namespace {

template <class T>
void linfStep(const T* __restrict xa, const T* __restrict xc, const T* __restrict g, T* out, int64_t numel,
              const PgdStepOptions& o) {
  const T step = static_cast<T>(o.stepSize), eps = static_cast<T>(o.eps);
  const T lo = static_cast<T>(o.min), hi = static_cast<T>(o.max);
  at::parallel_for(0, numel, 1 << 15, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const T gi = g[i];
      const T sign = static_cast<T>(gi > T(0)) - static_cast<T>(gi < T(0));
      T x = xa[i] + step * sign;
      const T c = xc[i];
      x = std::min(std::max(x, c - eps), c + eps);  // as torch.clamp: a NaN x stays NaN
      out[i] = std::min(std::max(x, lo), hi);
    }
  });
}

template <class T>
void l2Step(const T* xa, const T* xc, const T* g, T* out, int64_t n, int64_t d, const PgdStepOptions& o) {
  const T lo = static_cast<T>(o.min), hi = static_cast<T>(o.max);
  at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t s = begin; s < end; ++s) {
      const T* __restrict a = xa + s * d;
      const T* __restrict c = xc + s * d;
      const T* __restrict gs = g + s * d;
      T* o_s = out + s * d;  // may alias a, c or gs: it is written only in the last pass
      const L2SampleSums sums = l2SampleSums(a, c, gs, d);
      const L2Factors f = l2Factors(sums, o);
      const T scale = static_cast<T>(f.scale), shrink = static_cast<T>(f.shrink);
      for (int64_t i = 0; i < d; ++i) {
        const T delta = (a[i] + scale * gs[i]) - c[i];
        o_s[i] = std::min(std::max(c[i] + delta * shrink, lo), hi);
      }
    }
  });
}

}  // namespace

void pgdStepCpu(const at::Tensor& xAdv, const at::Tensor& xClean, const at::Tensor& grad, const at::Tensor& out,
                const PgdStepOptions& o) {
  const auto [n, d] = batchAndSampleSize(xAdv);
  AT_DISPATCH_FLOATING_TYPES(xAdv.scalar_type(), "pgdStepCpu", [&] {
    const auto* a = xAdv.const_data_ptr<scalar_t>();
    const auto* c = xClean.const_data_ptr<scalar_t>();
    const auto* g = grad.const_data_ptr<scalar_t>();
    auto* r = out.mutable_data_ptr<scalar_t>();
    if (o.norm == PgdNorm::Linf) linfStep(a, c, g, r, xAdv.numel(), o);
    else l2Step(a, c, g, r, n, d, o);
  });
}

}  // namespace hexa::kernels::detail
