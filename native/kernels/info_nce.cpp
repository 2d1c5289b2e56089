#include "kernels/info_nce.h"
#include "kernels/device_dispatch.h"

#include <cmath>

#include "kernels/softmax_ce_rows.h"

namespace hexa::kernels {

at::Tensor LogitsBuffer(const std::optional<at::Tensor>& workspace, int64_t rows, int64_t cols, const at::Tensor& like) {
  if (workspace && workspace->defined() && workspace->scalar_type() == like.scalar_type() &&
      workspace->device() == like.device() && workspace->is_contiguous() && workspace->numel() >= rows * cols) {
    return workspace->view({-1}).narrow(0, 0, rows * cols).view({rows, cols});
  }
  return at::empty({rows, cols}, like.options());
}

at::Tensor LossGradScale(const at::Tensor& grad_loss, double denom, const at::Tensor& like) {
  return grad_loss.to(like.device(), like.scalar_type()).reshape({}) / denom;
}

namespace {

void CheckSameKind(const at::Tensor& a, const char* an, const at::Tensor& b, const char* bn) {
  TORCH_CHECK_TYPE(a.scalar_type() == b.scalar_type(), "info_nce: ", an, " and ", bn, " must have the same dtype, got ",
                   a.scalar_type(), " and ", b.scalar_type());
  TORCH_CHECK(a.device() == b.device(), "info_nce: ", an, " and ", bn, " must be on the same device, got ", a.device(),
              " and ", b.device());
}

void CheckInputs(const at::Tensor& q, const at::Tensor& k, const at::Tensor& queue, const InfoNCEOptions& o) {
  TORCH_CHECK_TYPE(at::isFloatingType(q.scalar_type()) && q.scalar_type() != at::kHalf && q.scalar_type() != at::kBFloat16,
                   "info_nce: q must be float32 or float64, got ", q.scalar_type());
  TORCH_CHECK_VALUE(q.dim() == 2 && q.size(0) >= 1 && q.size(1) >= 1, "info_nce: q must be [N, C] with N, C >= 1, got ",
                    q.sizes());
  TORCH_CHECK_VALUE(k.sizes() == q.sizes(), "info_nce: k must have q's shape ", q.sizes(), ", got ", k.sizes());
  TORCH_CHECK_VALUE(queue.dim() == 2 && queue.size(1) == q.size(1), "info_nce: queue must be [K, ", q.size(1), "], got ",
                    queue.sizes());
  CheckSameKind(q, "q", k, "k");
  CheckSameKind(q, "q", queue, "queue");
  TORCH_CHECK_VALUE(std::isfinite(o.temperature) && o.temperature > 0, "info_nce: temperature must be a finite number > 0, got ",
                    o.temperature);
  if (o.targets) {
    const int64_t n = q.size(0), kk = queue.size(0);
    TORCH_CHECK_VALUE(o.targets->dim() == 2 && o.targets->size(0) == n && o.targets->size(1) == n + kk,
                      "info_nce: targets must be [N, N+K] = [", n, ", ", n + kk, "], got ", o.targets->sizes());
    CheckSameKind(q, "q", *o.targets, "targets");
  }
}

}  // namespace

InfoNCEForward info_nce_forward(const at::Tensor& q, const at::Tensor& k, const at::Tensor& queue,
                                const InfoNCEOptions& options) {
  HEXA_RECORD_KERNEL("hexa::info_nce_forward");
  CheckInputs(q, k, queue, options);
  const int64_t n = q.size(0), kk = queue.size(0);
  RowTargets targets;
  at::Tensor buffer;
  if (options.targets) {
    buffer = LogitsBuffer(options.workspace, n, n + kk, q);
    at::Tensor in_batch = buffer.narrow(1, 0, n), from_queue = buffer.narrow(1, n, kk);
    at::mm_out(in_batch, q, k.t());
    if (kk > 0) at::mm_out(from_queue, q, queue.t());
    targets.soft = options.targets->stride(-1) == 1 ? *options.targets : options.targets->contiguous();
  } else {
    buffer = LogitsBuffer(options.workspace, n, kk + 1, q);
    at::Tensor positive = buffer.select(1, 0), from_queue = buffer.narrow(1, 1, kk);
    if (q.is_cuda()) {
#ifdef HEXA_WITH_CUDA
      rowwise_dot_cuda(positive, q, k);
#else
      TORCH_CHECK(false, "info_nce: this build has no CUDA kernels (use the cuda variant)");
#endif
    } else {
      rowwise_dot_cpu(positive, q, k);
    }
    if (kk > 0) at::mm_out(from_queue, q, queue.t());
    targets.fixed_class = 0;
  }
  RowPassResult rows = softmax_ce_rows_(buffer, 1.0 / options.temperature, targets);
  return {rows.row_loss.mean(), rows.row_correct.to(at::kDouble).mean(), buffer};
}

at::Tensor info_nce_backward(const at::Tensor& grad_logits, const at::Tensor& k, const at::Tensor& queue,
                             double temperature, bool soft, const at::Tensor& grad_loss, std::optional<at::Tensor> out) {
  HEXA_RECORD_KERNEL("hexa::info_nce_backward");
  const int64_t n = k.size(0), kk = queue.size(0);
  TORCH_CHECK(grad_logits.dim() == 2 && grad_logits.size(0) == n && grad_logits.size(1) == (soft ? n + kk : kk + 1),
              "info_nce_backward: grad_logits has shape ", grad_logits.sizes(), ", which fits neither form");
  at::Tensor grad_q = out ? *out : at::empty_like(k, at::MemoryFormat::Contiguous);
  TORCH_CHECK(grad_q.sizes() == k.sizes() && grad_q.scalar_type() == k.scalar_type() && grad_q.device() == k.device(),
              "info_nce_backward: out must be ", k.sizes(), " with k's dtype and device");
  if (soft) {
    at::mm_out(grad_q, grad_logits.narrow(1, 0, n), k);
  } else {
    at::mul_out(grad_q, k, grad_logits.narrow(1, 0, 1));  // the positive column: a row-wise scale of k
  }
  const int64_t first_queue_column = soft ? n : 1;
  if (kk > 0) grad_q.addmm_(grad_logits.narrow(1, first_queue_column, kk), queue);
  grad_q.mul_(LossGradScale(grad_loss, temperature * static_cast<double>(n), grad_q));
  return grad_q;
}

}  // namespace hexa::kernels
