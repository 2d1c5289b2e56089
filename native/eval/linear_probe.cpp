#include "eval/linear_probe.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <cmath>

#include "train/optimizer.h"

namespace hexa::eval {

namespace {
void CheckLabels(const char* fn, const at::Tensor& labels, int64_t rows, int64_t classes) {
  TORCH_CHECK(labels.dim() == 1 && labels.size(0) == rows, fn, ": labels must be [N] with N = ", rows, ", got ", labels.sizes());
  if (rows == 0) return;
  TORCH_CHECK(labels.min().item<int64_t>() >= 0 && labels.max().item<int64_t>() < classes, fn, ": labels must lie in [0, ", classes,
              ")");
}
}  // namespace

LinearClassifier TrainLinearClassifier(const at::Tensor& features, const at::Tensor& labelsIn, const LinearProbeOptions& o) {
  TORCH_CHECK(features.dim() == 2 && features.size(0) >= 1, "trainLinearClassifier: features must be [N, D] with N >= 1, got ",
              features.sizes());
  const int64_t n = features.size(0), d = features.size(1);
  // Private copies, checked then used (a concurrent write to the inputs cannot change them).
  const at::Tensor labels = labelsIn.to(at::kCPU, at::kLong, false, /*copy=*/true);
  CheckLabels("trainLinearClassifier", labels, n, o.classes);
  const at::Tensor x = features.to(at::kCPU, at::kFloat, false, /*copy=*/true);
  const at::Tensor mean = x.mean(0), std = x.std(0, /*unbiased=*/false).clamp_min(1e-6);
  const at::Tensor z = (x - mean) / std;

  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(o.seed);
  // swav's initialisation: weight ~ N(0, 0.01), bias 0.
  at::Tensor weight = at::normal(0.0, 0.01, {o.classes, d}, gen).set_requires_grad(true);
  at::Tensor bias = at::zeros({o.classes}).set_requires_grad(true);
  train::OptimizerOptions opt;
  opt.momentum = o.momentum;
  opt.weightDecay = o.weightDecay;
  train::Optimizer optimizer({{"weight", weight}, {"bias", bias}}, opt);

  const int64_t steps = o.epochs * ((n + o.batchSize - 1) / o.batchSize);
  int64_t step = 0;
  for (int64_t epoch = 0; epoch < o.epochs; ++epoch) {
    const at::Tensor perm = at::randperm(n, gen, at::kLong);
    for (int64_t start = 0; start < n; start += o.batchSize) {
      const at::Tensor idx = perm.narrow(0, start, std::min(o.batchSize, n - start));
      const at::Tensor logits = at::addmm(bias, z.index_select(0, idx), weight.t());
      const at::Tensor loss = torch::nn::functional::cross_entropy(logits, labels.index_select(0, idx));
      optimizer.zeroGrad();
      loss.backward();
      // Cosine from lr to 0 over every step (swav's eval_linear schedule, per step).
      optimizer.step(0.5 * o.lr * (1.0 + std::cos(M_PI * static_cast<double>(step) / static_cast<double>(steps))));
      ++step;
    }
  }
  // Fold the standardisation in: W z + b = (W / std) x + (b - (W / std) · mean).
  torch::NoGradGuard no_grad;
  const at::Tensor w = weight.detach() / std;
  return {w, bias.detach() - at::mv(w, mean)};
}

TopK ClassifierHits(const at::Tensor& features, const at::Tensor& labelsIn, const at::Tensor& weight, const at::Tensor& bias) {
  TORCH_CHECK(features.dim() == 2 && weight.dim() == 2 && weight.size(1) == features.size(1),
              "classifierAccuracy: features [N, D] and weight [C, D] must share D, got ", features.sizes(), " and ", weight.sizes());
  TORCH_CHECK(bias.dim() == 1 && bias.size(0) == weight.size(0), "classifierAccuracy: bias must be [C] = [", weight.size(0), "]");
  const int64_t classes = weight.size(0);
  const at::Tensor labels = labelsIn.to(at::kCPU, at::kLong, false, /*copy=*/true);
  CheckLabels("classifierAccuracy", labels, features.size(0), classes);
  torch::NoGradGuard no_grad;
  const at::Tensor w = weight.to(at::kCPU, at::kFloat);
  const at::Tensor scores = at::addmm(bias.to(at::kCPU, at::kFloat), features.to(at::kCPU, at::kFloat), w.t());
  TopK r;
  r.rows = features.size(0);
  if (r.rows == 0) return r;
  const at::Tensor top = std::get<1>(scores.topk(std::min<int64_t>(5, classes), 1));
  const at::Tensor hit = top.eq(labels.unsqueeze(1));
  r.top1 = hit.select(1, 0).sum().item<int64_t>();
  r.top5 = hit.any(1).sum().item<int64_t>();
  return r;
}

}  // namespace hexa::eval
