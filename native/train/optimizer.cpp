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

void Optimizer::zeroGrad(bool inPlace) {
  for (auto& [name, p] : params_) {
    if (!inPlace) p.mutable_grad() = at::Tensor();
    else if (p.grad().defined()) p.mutable_grad().zero_();
  }
}

void Optimizer::step(double lr) { update(lr, at::Tensor()); }

void Optimizer::step(const at::Tensor& lr) {
  TORCH_CHECK(lr.defined() && lr.dim() == 0 && at::isFloatingType(lr.scalar_type()),
              "Optimizer::step: lr must be a 0-dim floating tensor");
  update(0, lr);
}

bool Optimizer::allocationFree() const {
  if (options_.momentum == 0) return true;
  for (size_t i = 0; i < params_.size(); ++i)
    if (params_[i].second.grad().defined() && !momentum_[i].defined()) return false;
  return true;
}

void Optimizer::update(double lr, const at::Tensor& lrTensor) {
  torch::NoGradGuard no_grad;
  const bool onDevice = lrTensor.defined();
  // lr in a parameter's dtype, converted once per dtype per step (not once per parameter).
  std::vector<at::Tensor> lrAs;
  const auto lrIn = [&](at::ScalarType dtype) -> at::Tensor {
    for (const at::Tensor& t : lrAs)
      if (t.scalar_type() == dtype) return t;
    lrAs.push_back(lrTensor.to(dtype));
    return lrAs.back();
  };
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
      if (options_.clip) {
        // lr = 0 divides by a float 1e-300, which is 0: rate inf, clamped to 1 (both paths).
        rate = onDevice ? (rate / lrIn(rate.scalar_type()).clamp_min(1e-300)).clamp_max(1.0)
                        : (rate / std::max(lr, 1e-300)).clamp_max(1.0);
      }
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
    if (onDevice) p.sub_(d * lrIn(p.scalar_type()));
    else p.add_(d, -lr);
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
    // In the parameter's memory order (channels-last filters), as the buffer a step creates.
    momentum_[i] = at::empty_like(params_[i].second).copy_(TakeLike(state, name, params_[i].second));
  }
}

}  // namespace hexa::train
