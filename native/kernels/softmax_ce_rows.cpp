#include "kernels/softmax_ce_rows.h"
#include "kernels/device_dispatch.h"

namespace hexa::kernels {

RowPassResult softmax_ce_rows_(at::Tensor& buffer, double scale, const RowTargets& targets) {
  HEXA_RECORD_KERNEL("hexa::softmax_ce_rows_");
  TORCH_CHECK(buffer.dim() == 2, "softmax_ce_rows_: buffer must be 2-d, got ", buffer.dim(), "-d");
  TORCH_CHECK(buffer.size(1) >= 1, "softmax_ce_rows_: buffer needs at least one column");
  TORCH_CHECK(buffer.size(1) == 1 || buffer.stride(1) == 1, "softmax_ce_rows_: buffer's last dim must be contiguous");
  TORCH_CHECK(at::isFloatingType(buffer.scalar_type()), "softmax_ce_rows_: buffer must be floating point");
  const int64_t n = buffer.size(0), m = buffer.size(1);
  if (targets.classes) {
    const auto& c = *targets.classes;
    TORCH_CHECK(c.scalar_type() == at::kLong && c.dim() == 1 && c.size(0) == n,
                "softmax_ce_rows_: classes must be int64 [", n, "], got ", c.sizes());
    TORCH_CHECK(c.device() == buffer.device(), "softmax_ce_rows_: classes on another device");
  } else if (targets.soft) {
    const auto& s = *targets.soft;
    TORCH_CHECK(s.dim() == 2 && s.size(0) == n && s.size(1) == m, "softmax_ce_rows_: soft targets must be [", n, ", ", m,
                "], got ", s.sizes());
    TORCH_CHECK(s.scalar_type() == buffer.scalar_type() && s.device() == buffer.device(),
                "softmax_ce_rows_: soft targets must match the buffer's dtype and device");
    TORCH_CHECK(m == 1 || s.stride(1) == 1, "softmax_ce_rows_: soft targets' last dim must be contiguous");
  } else {
    TORCH_CHECK(targets.fixed_class >= 0 && targets.fixed_class < m, "softmax_ce_rows_: fixed_class out of range");
  }
  RowPassResult out{at::empty({n}, buffer.options()), at::empty({n}, buffer.options().dtype(at::kByte))};
  if (n == 0) return out;
  if (buffer.is_cpu()) {
    softmax_ce_rows_cpu(buffer, scale, targets, out);
  } else if (buffer.is_cuda()) {
#ifdef HEXA_WITH_CUDA
    softmax_ce_rows_cuda(buffer, scale, targets, out);
    // The kernel marks a row whose class is out of range with row_correct = 2 (one sync).
    if (targets.classes) {
      const int64_t bad = out.row_correct.eq(2).sum().item<int64_t>();
      TORCH_CHECK_VALUE(bad == 0, "targets must be in [0, ", m, "), got ", bad, " value(s) outside");
    }
#else
    TORCH_CHECK(false, "softmax_ce_rows_: this build has no CUDA kernels (use the cuda variant)");
#endif
  } else {
    TORCH_CHECK(false, "softmax_ce_rows_: unsupported device ", buffer.device());
  }
  return out;
}

}  // namespace hexa::kernels
