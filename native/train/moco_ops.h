// The tensor operations one HEXA_MoCo step is made of, as the trainer sees them. Each is a
// thin call into a fused kernel of native/kernels/ where one exists; the rest compose ATen
// ops. Everything here works inside autograd where the trainer needs gradients (InfoNCE).
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

// The attack's start: x0 + U(-eps, eps) clamped to [0, 1], the noise drawn from gen, or x0 +
// `noise` when given (tests inject it).
at::Tensor PgdStart(const at::Tensor& x0, double eps, const std::optional<at::Tensor>& noise, at::Generator& gen);

// One L∞ PGD step in place on x: x + α·sign(g), projected into the eps-ball around x0, clamped to [0, 1].
void PgdStepLinf(const at::Tensor& x, const at::Tensor& x0, const at::Tensor& grad, double eps, double stepSize);

struct CutmixSample {
  at::Tensor perm;    // int64 [N]
  at::Tensor boxes;   // int64 [N, 4] (y0, x0, y1, x1), half-open, clipped
  at::Tensor lambda;  // float64 [N]: the visible fraction of image i
};
CutmixSample SampleCutmixBoxes(int64_t n, int64_t h, int64_t w, double alpha, at::Generator& gen);
at::Tensor CutmixLambda(const at::Tensor& boxes, int64_t h, int64_t w);
at::Tensor ApplyCutmix(const at::Tensor& x, const at::Tensor& perm, const at::Tensor& boxes);
// [N, columns]: λ_i on column i, 1-λ_i on column perm[i].
at::Tensor CutmixTargets(const at::Tensor& lambda, const at::Tensor& perm, int64_t columns);

// θt ← m·θt + (1−m)·θs over whole lists, in place.
void MomentumUpdate(std::vector<at::Tensor>& target, const std::vector<at::Tensor>& source, double m);
// Writes keys into the ring buffer from ptr (wrapping); returns the new pointer.
int64_t Enqueue(at::Tensor& queue, const at::Tensor& keys, int64_t ptr);

}  // namespace hexa::train::ops
