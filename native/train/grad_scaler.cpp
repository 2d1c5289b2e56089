#include "train/grad_scaler.h"

#include <torch/torch.h>

namespace hexa::train {

namespace {
// torch.amp.GradScaler's defaults.
constexpr double kInitialScale = 65536.0;
constexpr double kGrowthFactor = 2.0;
constexpr double kBackoffFactor = 0.5;
constexpr int64_t kGrowthInterval = 2000;
const std::string kScaleKey = "grad_scaler.scale";
const std::string kTrackerKey = "grad_scaler.growth_tracker";
}  // namespace

GradScaler::GradScaler(const at::Device& device)
    : enabled_(true),
      scale_(at::full({1}, kInitialScale, at::TensorOptions().dtype(at::kFloat).device(device))),
      growthTracker_(at::zeros({1}, at::TensorOptions().dtype(at::kInt).device(device))),
      foundInf_(at::zeros({1}, at::TensorOptions().dtype(at::kFloat).device(device))),
      lastScale_(kInitialScale) {}

at::Tensor GradScaler::scale(const at::Tensor& loss) const {
  if (!enabled_) return loss;
  // A float32 product even for a float16 loss (the initial scale is above float16's range).
  return loss * scale_.squeeze();
}

bool GradScaler::unscale(const std::vector<at::Tensor>& params, const std::vector<at::Tensor>& alsoFinite,
                         dist::Communicator& comm) {
  if (!enabled_) return true;
  torch::NoGradGuard no_grad;
  foundInf_.zero_();
  std::vector<at::Tensor> grads;
  for (const at::Tensor& p : params)
    if (p.grad().defined()) grads.push_back(p.grad());
  // As GradScaler.unscale_: the reciprocal in double, then float.
  const at::Tensor inverse = scale_.to(at::kDouble).reciprocal().to(at::kFloat);
  if (!grads.empty()) at::_amp_foreach_non_finite_check_and_unscale_(grads, foundInf_, inverse);
  for (const at::Tensor& t : alsoFinite) foundInf_.add_(t.detach().isfinite().logical_not().any().to(at::kFloat));
  std::vector<at::Tensor> flags = {foundInf_};
  comm.allReduceSum(flags);
  const at::Tensor host = at::cat({foundInf_, scale_}).to(at::kCPU);
  lastScale_ = host[1].item<double>();
  return host[0].item<float>() == 0;
}

void GradScaler::update() {
  if (!enabled_) return;
  torch::NoGradGuard no_grad;
  at::_amp_update_scale_(scale_, growthTracker_, foundInf_, kGrowthFactor, kBackoffFactor, kGrowthInterval);
}

void GradScaler::save(StateDict& out) const {
  if (!enabled_) return;
  out[kScaleKey] = scale_;
  out[kTrackerKey] = growthTracker_;
}

void GradScaler::load(const StateDict& state) {
  if (!enabled_ || state.find(kScaleKey) == state.end()) return;
  torch::NoGradGuard no_grad;
  const at::Tensor& s = TakeLike(state, kScaleKey, scale_);
  TORCH_CHECK(s.to(at::kCPU).item<float>() > 0, "checkpoint tensor '", kScaleKey, "' must be > 0");
  scale_.copy_(s);
  growthTracker_.copy_(TakeLike(state, kTrackerKey, growthTracker_));
  lastScale_ = scale_.to(at::kCPU).item<double>();
}

void AddLossScaleMetrics(const GradScaler& scaler, bool finite, std::vector<std::pair<std::string, double>>& out) {
  if (!scaler.enabled()) return;
  out.emplace_back("lossScale", scaler.lastScale());
  out.emplace_back("skipped", finite ? 0.0 : 1.0);
}

}  // namespace hexa::train
