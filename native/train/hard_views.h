// HEXA's two hard views, method-neutral (hexa-method.md): an adversarial view made by PGD
// against whatever loss the method gives, and a CutMix view with the boxes, partners and λ a
// method needs to build its soft targets. Both MoCo and DeepCluster trainers use these.
#pragma once
#include <ATen/ATen.h>

#include <functional>
#include <optional>

#include "kernels/pgd.h"
#include "models/batch_norm.h"

namespace hexa::train {

struct AdversarialOptions {
  bool enabled = true;
  kernels::PgdNorm norm = kernels::PgdNorm::Linf;
  double eps = 8.0 / 255, stepSize = 2.0 / 255;
  int64_t steps = 2;
  bool randomStart = true;
  double weight = 1.0;
  bool auxBN = false;  // AdvProp: adversarial forwards use auxiliary BN parameters and statistics
};

struct CutmixOptions {
  bool enabled = true;
  double alpha = 1.0;
  double weight = 1.0;
};

struct HardViewOptions {
  AdversarialOptions adversarial;
  CutmixOptions cutmix;
};

// Which hard views a step runs and with which weights: hardViewScale multiplies both weights,
// 0 skips both (the base method's step). Checks that a CutMix step has a partner per image.
struct HardViewPlan {
  bool adversarial = false, cutmix = false;
  double adversarialWeight = 0, cutmixWeight = 0;
  HardViewPlan(const HardViewOptions& o, double scale, int64_t batch);
  // L_clean + w_adv·L_adv + w_mix·L_mix over the terms this step ran.
  double total(double clean, double adv, double mix) const;
};

// The BatchNorm rules of the hard views, in one place. The attack's forwards use batch
// statistics and record nothing (auxiliary BN's parameters when built); the adversarial
// view's training forward records into the auxiliary statistics when built, else nothing, so
// the main running statistics describe clean images only.
models::BatchNormMode AttackBatchNormMode(const AdversarialOptions& o);
models::BatchNormMode AdversarialTrainingBatchNormMode(const AdversarialOptions& o);

// The loss the attack maximises, as a function of the input images (model and targets bound
// by the caller, who keeps them fixed during the attack).
using AttackLoss = std::function<at::Tensor(const at::Tensor& images)>;

// PGD: from x0 (+ a uniform random start in the ε-ball: `noise` when given, else drawn from
// gen), `steps` ascent steps on `loss`, each projected into the ball and clamped to [0, 1].
// Gradients go to the input only; BN statistics are left alone (AttackBatchNormMode).
at::Tensor AdversarialView(const at::Tensor& x0, const AttackLoss& loss, const AdversarialOptions& o,
                           const std::optional<at::Tensor>& noise, at::Generator& gen);

struct CutmixView {
  at::Tensor images;  // x with box i taken from x[perm[i]]
  at::Tensor perm;    // int64 [N]
  at::Tensor boxes;   // int64 [N, 4] (y0, x0, y1, x1), half-open, clipped
  at::Tensor lambda;  // float64 [N] on the CPU: the visible fraction of image i
};

// λ of each box (int64 [N, 4], y0 x0 y1 x1) in an h×w image: 1 − area/(h·w), float64 on the
// boxes' device (device ops only: graph-safe); the same doubles as sampleCutmix's λ.
at::Tensor CutmixLambda(const at::Tensor& boxes, int64_t h, int64_t w);

// A CutMix view of x: boxes, partners and λ drawn from gen (λ ~ Beta(α, α), one box per
// sample), or the given perm and boxes (tests inject them; λ then follows from the boxes).
CutmixView MakeCutmixView(const at::Tensor& x, const CutmixOptions& o, const std::optional<at::Tensor>& perm,
                          const std::optional<at::Tensor>& boxes, at::Generator& gen);

}  // namespace hexa::train
