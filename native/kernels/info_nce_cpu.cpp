// CPU part of InfoNCE that is not a GEMM: the positive logits q_i . k_i, written straight
// into column 0 of the logits buffer (so no N x 1 temporary and no cat).
#include <ATen/Parallel.h>

#include "kernels/cpu_simd.h"
#include "kernels/info_nce.h"

namespace hexa::kernels {
namespace {

template <class T>
HEXA_ALWAYS_INLINE void DotRows(T* out, int64_t out_stride, const T* q, const T* k, int64_t c, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; ++i) out[i * out_stride] = simd::Dot(q + i * c, k + i * c, c);
}
HEXA_CPU_CLONES void DotRowsFloat(float* o, int64_t s, const float* q, const float* k, int64_t c, int64_t b, int64_t e) {
  DotRows(o, s, q, k, c, b, e);
}
HEXA_CPU_CLONES void DotRowsDouble(double* o, int64_t s, const double* q, const double* k, int64_t c, int64_t b, int64_t e) {
  DotRows(o, s, q, k, c, b, e);
}
void RunDotRows(float* o, int64_t s, const float* q, const float* k, int64_t c, int64_t b, int64_t e) {
  DotRowsFloat(o, s, q, k, c, b, e);
}
void RunDotRows(double* o, int64_t s, const double* q, const double* k, int64_t c, int64_t b, int64_t e) {
  DotRowsDouble(o, s, q, k, c, b, e);
}

}  // namespace

void rowwise_dot_cpu(at::Tensor& out, const at::Tensor& q, const at::Tensor& k) {
  at::Tensor qc = q.contiguous(), kc = k.contiguous();
  AT_DISPATCH_FLOATING_TYPES(q.scalar_type(), "rowwise_dot_cpu", [&] {
    const int64_t n = q.size(0), c = q.size(1);
    scalar_t* o = out.data_ptr<scalar_t>();
    const int64_t stride = out.stride(0);
    const scalar_t* qp = qc.const_data_ptr<scalar_t>();
    const scalar_t* kp = kc.const_data_ptr<scalar_t>();
    at::parallel_for(0, n, std::max<int64_t>(1, 16384 / c), [&](int64_t b, int64_t e) { RunDotRows(o, stride, qp, kp, c, b, e); });
  });
}

}  // namespace hexa::kernels
