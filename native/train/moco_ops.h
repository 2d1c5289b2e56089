// The tensor operations only MoCo uses (the hard views are in hard_views.h), each a thin
// call into a fused kernel of native/kernels/. Everything here works inside autograd where the trainer needs gradients (InfoNCE).
#pragma once
#include <ATen/ATen.h>

#include <optional>
#include <vector>

namespace hexa::train::ops {

// InfoNCE (MoCo): logits [q·k⁺, q·queueᵀ]/τ and CE to column 0; with soft `targets`
// [N, N+K], logits [q·kᵀ, q·queueᵀ]/τ and soft CE. Differentiable w.r.t. q only.
// `accuracy`, when given, receives the fraction of rows whose top logit is the positive, as a
// 0-dim tensor on q's device (no host sync).
at::Tensor InfoNCELoss(const at::Tensor& q, const at::Tensor& k, const at::Tensor& queue, double temperature,
                       const std::optional<at::Tensor>& targets, at::Tensor* accuracy);

// [N, columns]: λ_i on column i, 1-λ_i on column perm[i].
at::Tensor CutmixTargets(const at::Tensor& lambda, const at::Tensor& perm, int64_t columns);

// θt ← m·θt + (1−m)·θs over whole lists, in place.
void MomentumUpdate(std::vector<at::Tensor>& target, const std::vector<at::Tensor>& source, double m);
// Writes keys into the ring buffer from ptr (wrapping); returns the new pointer.
int64_t Enqueue(at::Tensor& queue, const at::Tensor& keys, int64_t ptr);
// The same with the pointer a 0-dim int64 device tensor, advanced in place (graph-safe).
void EnqueueAt(at::Tensor& queue, const at::Tensor& keys, at::Tensor& ptr);

}  // namespace hexa::train::ops
