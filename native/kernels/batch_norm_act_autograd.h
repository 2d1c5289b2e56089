// The fused BatchNorm + add + ReLU (batch_norm_act.h) as a torch::autograd::Function, for the
// ResNet's blocks (models/batch_norm.h: BatchNorm2dImpl::forwardAct):
//   y = BatchNormActFunction::apply(x, weight, bias, residual, runningMean, runningVar,
//                                   momentum, eps, relu);  // residual: std::nullopt for none
// Gradients for x, weight, bias and the residual; the running statistics are updated in the
// forward (momentum 0: untouched). Kept apart from the model code because the autograd Function
// header is slow to compile.
#pragma once
#include <torch/csrc/autograd/custom_function.h>

namespace hexa::kernels {

struct BatchNormActFunction : public torch::autograd::Function<BatchNormActFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            const at::Tensor& bias, const std::optional<at::Tensor>& residual, const at::Tensor& runningMean,
                            const at::Tensor& runningVar, double momentum, double eps, bool relu);
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs);
};

}  // namespace hexa::kernels
