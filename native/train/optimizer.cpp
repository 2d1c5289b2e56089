#include "train/optimizer.h"

#include <torch/torch.h>

namespace hexa::train {

namespace {
const std::string kPrefix = "optimizer.";
const std::string kSuffix = ".momentum_buffer";
}  // namespace

Optimizer::Optimizer(std::vector<std::pair<std::string, at::Tensor>> named, const OptimizerOptions& options)
    : params_(std::move(named)), momentum_(params_.size()), options_(options) {
  TORCH_CHECK(options.momentum >= 0 && options.weightDecay >= 0 && options.trustCoefficient > 0,
              "optimizer: momentum and weightDecay must be >= 0, trustCoefficient > 0");
}

void Optimizer::zeroGrad() {
  for (auto& [name, p] : params_) p.mutable_grad() = at::Tensor();
}

void Optimizer::step(double lr) {
  torch::NoGradGuard no_grad;
  const bool lars = options_.kind == OptimizerOptions::Kind::LARS;
  for (size_t i = 0; i < params_.size(); ++i) {
    at::Tensor& p = params_[i].second;
    if (!p.grad().defined()) continue;
    at::Tensor d = p.grad();
    const bool excluded = lars && options_.excludeBiasAndNorm && p.dim() <= 1;
    const double wd = excluded ? 0.0 : options_.weightDecay;
    if (lars && !excluded) {
      // Norms of the parameter and of the raw gradient, before weight decay (LARC); kept on
      // the device (no host sync per parameter).
      const at::Tensor pNorm = p.norm(), gNorm = d.norm();
      if (wd != 0) d = d.add(p, wd);
      at::Tensor rate = options_.trustCoefficient * pNorm / (gNorm + wd * pNorm);
      if (options_.clip) rate = (rate / std::max(lr, 1e-300)).clamp_max(1.0);
      rate = at::where(pNorm.gt(0).logical_and(gNorm.gt(0)), rate, at::ones_like(rate));
      d = d.mul(rate);
    } else if (wd != 0) {
      d = d.add(p, wd);
    }
    if (options_.momentum != 0) {
      at::Tensor& buf = momentum_[i];
      if (!buf.defined()) {
        buf = d.clone().detach();
      } else {
        buf.mul_(options_.momentum).add_(d, 1.0);
      }
      d = buf;
    }
    p.add_(d, -lr);
  }
}

void Optimizer::save(StateDict& out) const {
  for (size_t i = 0; i < params_.size(); ++i)
    if (momentum_[i].defined()) out[kPrefix + params_[i].first + kSuffix] = momentum_[i];
}

void Optimizer::load(const StateDict& state) {
  for (size_t i = 0; i < params_.size(); ++i) {
    const std::string name = kPrefix + params_[i].first + kSuffix;
    if (state.find(name) == state.end()) {
      momentum_[i] = at::Tensor();  // not stepped yet when saved
      continue;
    }
    momentum_[i] = TakeLike(state, name, params_[i].second).to(params_[i].second.options()).clone();
  }
}

}  // namespace hexa::train
