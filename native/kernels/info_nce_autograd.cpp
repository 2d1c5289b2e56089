#include "kernels/info_nce_autograd.h"

#include "kernels/cluster_ce.h"
#include "kernels/info_nce.h"

namespace hexa::kernels {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

at::Tensor InfoNCEFunction::forward(AutogradContext* ctx, const at::Tensor& q, const at::Tensor& k,
                                    const at::Tensor& queue, double temperature,
                                    const std::optional<at::Tensor>& targets, at::Tensor* accuracy) {
  InfoNCEOptions options;
  options.temperature = temperature;
  options.targets = targets;
  // k, queue and the targets are constants: detached so no gradient flows into them.
  InfoNCEForward fwd = info_nce_forward(q.detach(), k.detach(), queue.detach(), options);
  ctx->saved_data["grad_logits"] = fwd.grad_logits;
  ctx->saved_data["k"] = k.detach();
  ctx->saved_data["queue"] = queue.detach();
  ctx->saved_data["temperature"] = temperature;
  ctx->saved_data["soft"] = targets.has_value();
  if (accuracy != nullptr) *accuracy = fwd.accuracy;
  return fwd.loss;
}

variable_list InfoNCEFunction::backward(AutogradContext* ctx, variable_list grad_outputs) {
  at::Tensor grad_q = info_nce_backward(ctx->saved_data["grad_logits"].toTensor(), ctx->saved_data["k"].toTensor(),
                                        ctx->saved_data["queue"].toTensor(), ctx->saved_data["temperature"].toDouble(),
                                        ctx->saved_data["soft"].toBool(), grad_outputs[0]);
  return {grad_q, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
}

at::Tensor ClusterCEFunction::forward(AutogradContext* ctx, const at::Tensor& z, const at::Tensor& prototypes,
                                      const at::Tensor& targets, double temperature) {
  ClusterCEOptions options;
  options.temperature = temperature;
  ClusterCEForward fwd = cluster_ce_forward(z.detach(), prototypes.detach(), targets.detach(), options);
  ctx->saved_data["grad_logits"] = fwd.grad_logits;
  ctx->saved_data["prototypes"] = prototypes.detach();
  ctx->saved_data["temperature"] = temperature;
  return fwd.loss;
}

variable_list ClusterCEFunction::backward(AutogradContext* ctx, variable_list grad_outputs) {
  at::Tensor grad_z = cluster_ce_backward(ctx->saved_data["grad_logits"].toTensor(),
                                          ctx->saved_data["prototypes"].toTensor(),
                                          ctx->saved_data["temperature"].toDouble(), grad_outputs[0]);
  return {grad_z, at::Tensor(), at::Tensor(), at::Tensor()};
}

}  // namespace hexa::kernels
