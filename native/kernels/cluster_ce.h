// DeepCluster-v2's loss for one head: mean over rows of CE(z . P^T / tau, target), with hard
// targets (int64 [N]) or soft ones ([N, K], CutMix). Same buffer discipline and the same
// fused row pass as InfoNCE (softmax_ce_rows.h); gradient w.r.t. z only (P is frozen).
#pragma once
#include <ATen/ATen.h>

#include <optional>

namespace hexa::kernels {

struct ClusterCEOptions {
  double temperature = 0.1;
  std::optional<at::Tensor> workspace;  // reused for the logits buffer when big enough
};

struct ClusterCEForward {
  at::Tensor loss;         // 0-dim
  at::Tensor accuracy;     // 0-dim float64: rows whose argmax is the target (soft: the target row's argmax)
  at::Tensor grad_logits;  // [N, K]: softmax - targets
};

// targets: int64 [N] with values in [0, K) (checked on a private copy on the CPU; on CUDA the
// row pass checks each as it reads it and the call fails after it, one sync), or a
// floating [N, K] tensor of z's dtype.
ClusterCEForward cluster_ce_forward(const at::Tensor& z, const at::Tensor& prototypes, const at::Tensor& targets,
                                    const ClusterCEOptions& options);

// d loss / d z = grad_loss / (tau N) * grad_logits . P, into `out` when given.
at::Tensor cluster_ce_backward(const at::Tensor& grad_logits, const at::Tensor& prototypes, double temperature,
                               const at::Tensor& grad_loss, std::optional<at::Tensor> out = std::nullopt);

}  // namespace hexa::kernels
