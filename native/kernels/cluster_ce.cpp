#include "kernels/cluster_ce.h"
#include "kernels/device_dispatch.h"

#include <cmath>

#include "kernels/info_nce.h"
#include "kernels/softmax_ce_rows.h"

namespace hexa::kernels {

ClusterCEForward cluster_ce_forward(const at::Tensor& z, const at::Tensor& prototypes, const at::Tensor& targets,
                                    const ClusterCEOptions& options) {
  HEXA_RECORD_KERNEL("hexa::cluster_ce_forward");
  TORCH_CHECK_TYPE(z.scalar_type() == at::kFloat || z.scalar_type() == at::kDouble,
                   "cluster_ce: z must be float32 or float64, got ", z.scalar_type());
  TORCH_CHECK_VALUE(z.dim() == 2 && z.size(0) >= 1 && z.size(1) >= 1, "cluster_ce: z must be [N, C] with N, C >= 1, got ",
                    z.sizes());
  TORCH_CHECK_VALUE(prototypes.dim() == 2 && prototypes.size(0) >= 1 && prototypes.size(1) == z.size(1),
                    "cluster_ce: prototypes must be [K, ", z.size(1), "] with K >= 1, got ", prototypes.sizes());
  TORCH_CHECK_TYPE(prototypes.scalar_type() == z.scalar_type(), "cluster_ce: prototypes must have z's dtype");
  TORCH_CHECK(prototypes.device() == z.device() && targets.device() == z.device(),
              "cluster_ce: z, prototypes and targets must be on the same device");
  TORCH_CHECK_VALUE(std::isfinite(options.temperature) && options.temperature > 0,
                    "cluster_ce: temperature must be a finite number > 0, got ", options.temperature);
  const int64_t n = z.size(0), k = prototypes.size(0);
  RowTargets row_targets;
  if (targets.scalar_type() == at::kLong) {
    TORCH_CHECK_VALUE(targets.dim() == 1 && targets.size(0) == n, "cluster_ce: hard targets must be [", n, "], got ",
                      targets.sizes());
    if (targets.is_cpu()) {
      // A private copy, checked, then used: the row pass never reads the caller's tensor, which
      // another op may be writing meanwhile (the row pass checks every class it reads anyway).
      at::Tensor own = targets.clone(at::MemoryFormat::Contiguous);
      auto [lo, hi] = at::aminmax(own);
      TORCH_CHECK_VALUE(lo.item<int64_t>() >= 0 && hi.item<int64_t>() < k, "cluster_ce: targets must be in [0, ", k,
                        "), got values in [", lo.item<int64_t>(), ", ", hi.item<int64_t>(), "]");
      row_targets.classes = own;
    } else {
      row_targets.classes = targets;  // checked by the row pass as it reads them
    }
  } else {
    TORCH_CHECK_TYPE(targets.scalar_type() == z.scalar_type(), "cluster_ce: soft targets must have z's dtype, got ",
                     targets.scalar_type());
    TORCH_CHECK_VALUE(targets.dim() == 2 && targets.size(0) == n && targets.size(1) == k,
                      "cluster_ce: soft targets must be [", n, ", ", k, "], got ", targets.sizes());
    row_targets.soft = targets.stride(-1) == 1 ? targets : targets.contiguous();
  }
  at::Tensor buffer = LogitsBuffer(options.workspace, n, k, z);
  at::mm_out(buffer, z, prototypes.t());
  RowPassResult rows = softmax_ce_rows_(buffer, 1.0 / options.temperature, row_targets);
  return {rows.row_loss.mean(), rows.row_correct.to(at::kDouble).mean(), buffer};
}

at::Tensor cluster_ce_backward(const at::Tensor& grad_logits, const at::Tensor& prototypes, double temperature,
                               const at::Tensor& grad_loss, std::optional<at::Tensor> out) {
  HEXA_RECORD_KERNEL("hexa::cluster_ce_backward");
  const int64_t n = grad_logits.size(0), c = prototypes.size(1);
  TORCH_CHECK(grad_logits.dim() == 2 && grad_logits.size(1) == prototypes.size(0),
              "cluster_ce_backward: grad_logits must be [N, K]");
  at::Tensor grad_z = out ? *out : at::empty({n, c}, prototypes.options());
  TORCH_CHECK(grad_z.dim() == 2 && grad_z.size(0) == n && grad_z.size(1) == c &&
                  grad_z.scalar_type() == prototypes.scalar_type() && grad_z.device() == prototypes.device(),
              "cluster_ce_backward: out must be [", n, ", ", c, "] with the prototypes' dtype and device");
  at::mm_out(grad_z, grad_logits, prototypes);
  grad_z.mul_(LossGradScale(grad_loss, temperature * static_cast<double>(n), grad_z));
  return grad_z;
}

}  // namespace hexa::kernels
