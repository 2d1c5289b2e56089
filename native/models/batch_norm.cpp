#include "models/batch_norm.h"

#include <torch/torch.h>

#include "kernels/batch_norm_act.h"
#include "kernels/batch_norm_act_autograd.h"

namespace hexa::models {

namespace {
thread_local BatchNormMode tlsMode = BatchNormMode::Normal;
constexpr double kMomentum = 0.1;  // torch.nn.BatchNorm2d defaults
constexpr double kEps = 1e-5;
}  // namespace

BatchNormModeGuard::BatchNormModeGuard(BatchNormMode mode) : previous_(tlsMode) { tlsMode = mode; }
BatchNormModeGuard::~BatchNormModeGuard() { tlsMode = previous_; }
BatchNormMode BatchNormModeGuard::current() { return tlsMode; }

BatchNorm2dImpl::BatchNorm2dImpl(int64_t channels, bool auxiliary) : auxiliary_(auxiliary) {
  weight = register_parameter("weight", torch::ones({channels}));
  bias = register_parameter("bias", torch::zeros({channels}));
  running_mean = register_buffer("running_mean", torch::zeros({channels}));
  running_var = register_buffer("running_var", torch::ones({channels}));
  num_batches_tracked = register_buffer("num_batches_tracked", torch::zeros({}, torch::kLong));
  if (auxiliary) {
    aux_weight = register_parameter("aux_weight", torch::ones({channels}));
    aux_bias = register_parameter("aux_bias", torch::zeros({channels}));
    aux_running_mean = register_buffer("aux_running_mean", torch::zeros({channels}));
    aux_running_var = register_buffer("aux_running_var", torch::ones({channels}));
  }
}

BatchNorm2dImpl::Pass BatchNorm2dImpl::pass() {
  BatchNormMode mode = BatchNormModeGuard::current();
  const bool aux = mode == BatchNormMode::Auxiliary || mode == BatchNormMode::AuxiliaryFrozen;
  if (aux && !auxiliary_) mode = BatchNormMode::FrozenStats;
  if (aux && auxiliary_) {
    return {aux_weight, aux_bias, aux_running_mean, aux_running_var, is_training(),
            mode == BatchNormMode::Auxiliary ? kMomentum : 0.0};
  }
  if (!is_training()) return {weight, bias, running_mean, running_var, false, kMomentum};
  if (mode == BatchNormMode::Normal) {
    torch::NoGradGuard no_grad;
    num_batches_tracked.add_(1);
  }
  // Frozen: momentum 0 leaves the running statistics exactly as they were ((1-0)·r + 0·batch
  // = r) while taking the same fast kernel as a normal training forward.
  return {weight, bias, running_mean, running_var, true, mode == BatchNormMode::Normal ? kMomentum : 0.0};
}

torch::Tensor BatchNorm2dImpl::forward(const torch::Tensor& x) {
  const Pass p = pass();
  return torch::batch_norm(x, p.weight, p.bias, p.runningMean, p.runningVar, p.batchStatistics, p.momentum, kEps,
                           at::globalContext().userEnabledCuDNN());
}

torch::Tensor BatchNorm2dImpl::forwardAct(const torch::Tensor& x, const std::optional<torch::Tensor>& residual,
                                          bool relu) {
  const Pass p = pass();
  if (p.batchStatistics && kernels::batchNormActSupported(x, residual)) {
    return kernels::BatchNormActFunction::apply(x, p.weight, p.bias, residual,
                                                p.runningMean, p.runningVar, p.momentum, kEps, relu);
  }
  torch::Tensor y = torch::batch_norm(x, p.weight, p.bias, p.runningMean, p.runningVar, p.batchStatistics, p.momentum,
                                      kEps, at::globalContext().userEnabledCuDNN());
  if (residual) y = y + *residual;
  return relu ? torch::relu(y) : y;
}

}  // namespace hexa::models
