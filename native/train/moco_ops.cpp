#include "train/moco_ops.h"

#include <cmath>

namespace hexa::train::ops {

at::Tensor InfoNCELoss(const at::Tensor& q, const at::Tensor& k, const at::Tensor& queue, double temperature,
                       const std::optional<at::Tensor>& targets, double* accuracy) {
  const at::Tensor kd = k.detach(), queued = queue.detach();
  if (targets) {
    at::Tensor logits = at::cat({at::mm(q, kd.t()), at::mm(q, queued.t())}, 1) / temperature;
    return -(*targets * at::log_softmax(logits, 1)).sum(1).mean();
  }
  at::Tensor positive = (q * kd).sum(1, true);
  at::Tensor logits = at::cat({positive, at::mm(q, queued.t())}, 1) / temperature;
  if (accuracy) {
    *accuracy = (logits.detach().argmax(1) == 0).to(at::kDouble).mean().item<double>();
  }
  return at::cross_entropy_loss(logits, at::zeros({q.size(0)}, q.options().dtype(at::kLong)));
}

at::Tensor UniformNoise(const at::Tensor& x, double eps, at::Generator& gen) {
  at::Tensor u = at::rand(x.sizes(), gen, at::TensorOptions().dtype(at::kDouble));
  return ((u * 2 - 1) * eps).to(x.options());
}

at::Tensor PgdStepLinf(const at::Tensor& x, const at::Tensor& x0, const at::Tensor& grad, double eps, double stepSize) {
  at::Tensor stepped = x + stepSize * grad.sign();
  return at::min(at::max(stepped, x0 - eps), x0 + eps).clamp(0, 1);
}

at::Tensor CutmixLambda(const at::Tensor& boxes, int64_t h, int64_t w) {
  at::Tensor b = boxes.to(at::kCPU, at::kDouble);
  at::Tensor area = (b.select(1, 2) - b.select(1, 0)) * (b.select(1, 3) - b.select(1, 1));
  return 1.0 - area / static_cast<double>(h * w);
}

CutmixSample SampleCutmixBoxes(int64_t n, int64_t h, int64_t w, double alpha, at::Generator& gen) {
  auto f64 = at::TensorOptions().dtype(at::kDouble);
  // λ ~ Beta(α, α) as G1 / (G1 + G2) with G ~ Gamma(α).
  at::Tensor g = at::_standard_gamma(at::full({2, n}, alpha, f64), gen);
  at::Tensor lam = g[0] / (g[0] + g[1]);
  at::Tensor ratio = at::sqrt(1 - lam);
  at::Tensor cutH = at::floor(ratio * h), cutW = at::floor(ratio * w);
  at::Tensor cy = at::floor(at::rand({n}, gen, f64) * h), cx = at::floor(at::rand({n}, gen, f64) * w);
  at::Tensor y0 = (cy - at::floor(cutH / 2)).clamp(0, h), y1 = (cy + at::floor(cutH / 2)).clamp(0, h);
  at::Tensor x0 = (cx - at::floor(cutW / 2)).clamp(0, w), x1 = (cx + at::floor(cutW / 2)).clamp(0, w);
  at::Tensor boxes = at::stack({y0, x0, y1, x1}, 1).to(at::kLong);
  return {at::randperm(n, gen, at::TensorOptions().dtype(at::kLong)), boxes, CutmixLambda(boxes, h, w)};
}

at::Tensor ApplyCutmix(const at::Tensor& x, const at::Tensor& perm, const at::Tensor& boxes) {
  const int64_t h = x.size(2), w = x.size(3);
  at::Tensor b = boxes.to(x.device());
  auto iy = at::arange(h, b.options()).view({1, h, 1}), ix = at::arange(w, b.options()).view({1, 1, w});
  auto col = [&](int j) { return b.select(1, j).view({-1, 1, 1}); };
  at::Tensor inside = (iy >= col(0)) & (iy < col(2)) & (ix >= col(1)) & (ix < col(3));
  return at::where(inside.unsqueeze(1), x.index_select(0, perm.to(x.device())), x);
}

at::Tensor CutmixTargets(const at::Tensor& lambda, const at::Tensor& perm, int64_t columns) {
  const int64_t n = lambda.size(0);
  at::Tensor t = at::zeros({n, columns}, at::TensorOptions().dtype(at::kFloat));
  at::Tensor lam = lambda.to(at::kFloat).view({n, 1});
  t.scatter_add_(1, at::arange(n, at::kLong).view({n, 1}), lam);
  t.scatter_add_(1, perm.cpu().view({n, 1}), 1 - lam);
  return t;
}

void MomentumUpdate(std::vector<at::Tensor>& target, const std::vector<at::Tensor>& source, double m) {
  for (size_t i = 0; i < target.size(); ++i) target[i].mul_(m).add_(source[i], 1 - m);
}

int64_t Enqueue(at::Tensor& queue, const at::Tensor& keys, int64_t ptr) {
  const int64_t k = queue.size(0), n = keys.size(0);
  at::Tensor rows = at::remainder(at::arange(ptr, ptr + n, at::TensorOptions().dtype(at::kLong).device(queue.device())), k);
  queue.index_copy_(0, rows, keys.detach().to(queue.scalar_type()));
  return (ptr + n) % k;
}

}  // namespace hexa::train::ops
