// The two losses as torch::autograd::Functions, so a C++ trainer can put them in its
// autograd graph:
//   at::Tensor loss = hexa::kernels::InfoNCEFunction::apply(q, k, queue, 0.2, std::nullopt);
//   loss.backward();  // q.grad only: k and the queue are constants
// This header pulls in the (slow to compile) autograd Function header; only
// info_nce_autograd.cpp and the trainer include it.
#pragma once
#include <torch/csrc/autograd/custom_function.h>

#include <optional>

namespace hexa::kernels {

// InfoNCE (info_nce.h). The saved state is the one logits buffer (softmax - targets).
// `accuracy`, when given, receives the forward's top-1 accuracy (0-dim float64, no gradient):
// the logits are already there, so it costs nothing extra.
struct InfoNCEFunction : public torch::autograd::Function<InfoNCEFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& q, const at::Tensor& k,
                            const at::Tensor& queue, double temperature, const std::optional<at::Tensor>& targets,
                            at::Tensor* accuracy = nullptr);
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs);
};

// DeepCluster-v2 cluster CE (cluster_ce.h); targets int64 [N] or soft [N, K]. Gradient for z only.
struct ClusterCEFunction : public torch::autograd::Function<ClusterCEFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& z, const at::Tensor& prototypes,
                            const at::Tensor& targets, double temperature);
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs);
};

}  // namespace hexa::kernels
