#include "train/moco_ops.h"

#include <cmath>

#include "kernels/cutmix.h"
#include "kernels/enqueue.h"
#include "kernels/info_nce_autograd.h"
#include "kernels/momentum.h"
#include "kernels/pgd.h"

namespace hexa::train::ops {

at::Tensor InfoNCELoss(const at::Tensor& q, const at::Tensor& k, const at::Tensor& queue, double temperature,
                       const std::optional<at::Tensor>& targets, at::Tensor* accuracy) {
  if (accuracy && !targets) {
    // The positive's rank among [k+, queue]: one extra N x K product, outside the graph.
    at::NoGradGuard no_grad;
    at::Tensor positive = (q * k).sum(1);
    at::Tensor hardest = std::get<0>(at::mm(q, queue.t()).max(1));
    *accuracy = (positive >= hardest).to(at::kDouble).mean();
  }
  return kernels::InfoNCEFunction::apply(q, k.detach(), queue.detach(), temperature, targets);
}

at::Tensor PgdStart(const at::Tensor& x0, double eps, const std::optional<at::Tensor>& noise, at::Generator& gen) {
  if (noise) return (x0 + noise->to(x0.options())).clamp(0, 1);
  at::Tensor out = at::empty_like(x0);
  kernels::pgdInit(x0, out, {eps, kernels::PgdNorm::Linf, 0, 1}, gen);
  return out;
}

void PgdStepLinf(const at::Tensor& x, const at::Tensor& x0, const at::Tensor& grad, double eps, double stepSize) {
  kernels::pgdStep(x, x0, grad, x, {eps, stepSize, kernels::PgdNorm::Linf, 0, 1});
}

at::Tensor CutmixLambda(const at::Tensor& boxes, int64_t h, int64_t w) {
  at::Tensor b = boxes.to(at::kCPU, at::kDouble);
  at::Tensor area = (b.select(1, 2) - b.select(1, 0)) * (b.select(1, 3) - b.select(1, 1));
  return 1.0 - area / static_cast<double>(h * w);
}

CutmixSample SampleCutmixBoxes(int64_t n, int64_t h, int64_t w, double alpha, at::Generator& gen) {
  kernels::CutmixSample s = kernels::sampleCutmix(n, h, w, alpha, gen);
  return {s.perm, s.boxes, s.lambda};
}

at::Tensor ApplyCutmix(const at::Tensor& x, const at::Tensor& perm, const at::Tensor& boxes) {
  at::Tensor out = at::empty_like(x);
  kernels::cutmix(x, perm, boxes, out);
  return out;
}

at::Tensor CutmixTargets(const at::Tensor& lambda, const at::Tensor& perm, int64_t columns) {
  return kernels::cutmixTargets(lambda, perm, columns, std::nullopt);
}

void MomentumUpdate(std::vector<at::Tensor>& target, const std::vector<at::Tensor>& source, double m) {
  kernels::momentumUpdate(target, source, m);
}

int64_t Enqueue(at::Tensor& queue, const at::Tensor& keys, int64_t ptr) { return kernels::enqueue(queue, keys.detach(), ptr); }

}  // namespace hexa::train::ops
