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
    const bool update = is_training() && mode == BatchNormMode::Auxiliary;
    const bool useRunning = update || !is_training();
    return torch::batch_norm(x, aux_weight, aux_bias, useRunning ? aux_running_mean : torch::Tensor(),
                             useRunning ? aux_running_var : torch::Tensor(), is_training(), kMomentum, kEps,
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
  // Without running tensors batch_norm normalises with batch statistics and updates nothing.
  const bool update = mode == BatchNormMode::Normal;
  return torch::batch_norm(x, weight, bias, update ? running_mean : torch::Tensor(), update ? running_var : torch::Tensor(),
                           true, kMomentum, kEps, at::globalContext().userEnabledCuDNN());
}

}  // namespace hexa::models
