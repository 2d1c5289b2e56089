#include "train/optimizer.h"

#include <torch/torch.h>

#include <algorithm>

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
  std::vector<at::Tensor> grads;
  for (auto& [name, p] : params_) {
    if (!inPlace) p.mutable_grad() = at::Tensor();
    else if (p.grad().defined()) grads.push_back(p.mutable_grad());
  }
  if (!grads.empty()) at::_foreach_zero_(grads);  // one multi-tensor launch, not one per parameter
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
  // The parameters this step moves (those with a gradient), their optimizer slots, and their
  // directions d. The same arithmetic as torch.optim.SGD per parameter; the elementwise parts
  // run as ATen's multi-tensor (_foreach) ops, as torch.optim's default: on a GPU one launch
  // per group of tensors instead of one per parameter (62 for ResNet-18, each a few µs when the
  // step is launch-bound); on the CPU they are the same per-tensor ops as before.
  std::vector<at::Tensor> params, dirs;
  std::vector<size_t> slot;
  std::vector<size_t> decayed;  // positions in params whose d is g + wd·p, added together below
  for (size_t i = 0; i < params_.size(); ++i) {
    const at::Tensor& p = params_[i].second;
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
      decayed.push_back(params.size());
    }
    params.push_back(p);
    dirs.push_back(d);
    slot.push_back(i);
  }
  if (params.empty()) return;
  if (!decayed.empty()) {
    std::vector<at::Tensor> g, p;
    for (size_t k : decayed) g.push_back(dirs[k]), p.push_back(params[k]);
    std::vector<at::Tensor> d = at::_foreach_add(g, p, options_.weightDecay);
    for (size_t n = 0; n < decayed.size(); ++n) dirs[decayed[n]] = d[n];
  }
  if (options_.momentum != 0) {
    // buf ← m·buf + d (the first step: buf ← d), then d ← buf.
    std::vector<at::Tensor> bufs, ds;
    for (size_t k = 0; k < params.size(); ++k) {
      at::Tensor& buf = momentum_[slot[k]];
      if (!buf.defined()) {
        buf = dirs[k].clone().detach();
      } else {
        bufs.push_back(buf);
        ds.push_back(dirs[k]);
      }
      dirs[k] = buf;  // the same tensor: the in-place update below is what d reads
    }
    if (!bufs.empty()) {
      at::_foreach_mul_(bufs, options_.momentum);
      at::_foreach_add_(bufs, ds);
    }
  }
  if (!onDevice) {
    at::_foreach_add_(params, dirs, -lr);
    return;
  }
  // p ← p − lr·d with lr read on the device, per parameter dtype.
  std::vector<at::ScalarType> dtypes;
  for (const at::Tensor& p : params)
    if (std::find(dtypes.begin(), dtypes.end(), p.scalar_type()) == dtypes.end()) dtypes.push_back(p.scalar_type());
  for (at::ScalarType dtype : dtypes) {
    std::vector<at::Tensor> p, d;
    for (size_t k = 0; k < params.size(); ++k)
      if (params[k].scalar_type() == dtype) p.push_back(params[k]), d.push_back(dirs[k]);
    at::_foreach_sub_(p, at::_foreach_mul(d, lrIn(dtype)));
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
