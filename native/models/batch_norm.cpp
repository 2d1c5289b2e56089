#include "models/batch_norm.h"

#include <torch/torch.h>

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

torch::Tensor BatchNorm2dImpl::forward(const torch::Tensor& x) {
  BatchNormMode mode = BatchNormModeGuard::current();
  const bool aux = mode == BatchNormMode::Auxiliary || mode == BatchNormMode::AuxiliaryFrozen;
  if (aux && !auxiliary_) mode = BatchNormMode::FrozenStats;
  if (aux && auxiliary_) {
    const double momentum = mode == BatchNormMode::Auxiliary ? kMomentum : 0.0;
    return torch::batch_norm(x, aux_weight, aux_bias, aux_running_mean, aux_running_var, is_training(), momentum, kEps,
                             at::globalContext().userEnabledCuDNN());
  }
  if (!is_training()) {
    return torch::batch_norm(x, weight, bias, running_mean, running_var, false, kMomentum, kEps,
                             at::globalContext().userEnabledCuDNN());
  }
  if (mode == BatchNormMode::Normal) {
    torch::NoGradGuard no_grad;
    num_batches_tracked.add_(1);
  }
  // Frozen: momentum 0 leaves the running statistics exactly as they were ((1-0)·r + 0·batch
  // = r) while taking the same fast kernel as a normal training forward.
  const double momentum = mode == BatchNormMode::Normal ? kMomentum : 0.0;
  return torch::batch_norm(x, weight, bias, running_mean, running_var, true, momentum, kEps,
                           at::globalContext().userEnabledCuDNN());
}

}  // namespace hexa::models
