#include "train/hard_views.h"

#include <torch/csrc/autograd/autograd.h>

#include "kernels/cutmix.h"

namespace hexa::train {

using models::BatchNormMode;

HardViewPlan::HardViewPlan(const HardViewOptions& o, double scale, int64_t batch)
    : adversarial(o.adversarial.enabled && scale > 0),
      cutmix(o.cutmix.enabled && scale > 0),
      adversarialWeight(o.adversarial.weight * scale),
      cutmixWeight(o.cutmix.weight * scale) {
  TORCH_CHECK(batch >= 2 || !cutmix, "a CutMix step needs a batch of at least 2");
}

double HardViewPlan::total(double clean, double adv, double mix) const {
  return clean + (adversarial ? adversarialWeight * adv : 0) + (cutmix ? cutmixWeight * mix : 0);
}

BatchNormMode AttackBatchNormMode(const AdversarialOptions& o) {
  return o.auxBN ? BatchNormMode::AuxiliaryFrozen : BatchNormMode::FrozenStats;
}

BatchNormMode AdversarialTrainingBatchNormMode(const AdversarialOptions& o) {
  return o.auxBN ? BatchNormMode::Auxiliary : BatchNormMode::FrozenStats;
}

at::Tensor AdversarialView(const at::Tensor& viewX0, const AttackLoss& loss, const AdversarialOptions& o,
                           const std::optional<at::Tensor>& noise, at::Generator& gen) {
  const at::Tensor x0 = viewX0.detach();
  at::Tensor x;
  if (!o.randomStart) {
    x = x0.clone();
  } else if (noise) {
    x = (x0 + noise->to(x0.options())).clamp(0, 1);
  } else {
    x = at::empty_like(x0);
    kernels::pgdInit(x0, x, {o.eps, o.norm, 0, 1}, gen);
  }
  models::BatchNormModeGuard frozen(AttackBatchNormMode(o));
  for (int64_t t = 0; t < o.steps; ++t) {
    x = x.detach().requires_grad_(true);
    at::Tensor value = loss(x);
    // Gradient w.r.t. the input only: the model's .grad fields stay untouched.
    at::Tensor grad = torch::autograd::grad({value}, {x})[0];
    x = x.detach();
    kernels::pgdStep(x, x0, grad, x, {o.eps, o.stepSize, o.norm, 0, 1});
  }
  return x.detach();
}

at::Tensor CutmixLambda(const at::Tensor& boxes, int64_t h, int64_t w) {
  at::Tensor b = boxes.to(at::kDouble);
  at::Tensor area = (b.select(1, 2) - b.select(1, 0)) * (b.select(1, 3) - b.select(1, 1));
  return 1.0 - area / static_cast<double>(h * w);
}

CutmixView MakeCutmixView(const at::Tensor& x, const CutmixOptions& o, const std::optional<at::Tensor>& perm,
                          const std::optional<at::Tensor>& boxes, at::Generator& gen) {
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3);
  CutmixView v;
  if (perm && boxes) {
    v.perm = perm->to(at::kLong);
    v.boxes = boxes->to(at::kLong);
    v.lambda = CutmixLambda(boxes->to(at::kCPU), h, w);
  } else {
    kernels::CutmixSample s = kernels::sampleCutmix(n, h, w, o.alpha, gen);
    v.perm = s.perm;
    v.boxes = s.boxes;
    v.lambda = s.lambda;
  }
  v.images = at::empty_like(x);
  kernels::cutmix(x, v.perm, v.boxes, v.images);
  return v;
}

}  // namespace hexa::train
