#include "train/state_dict.h"

#include <torch/torch.h>

#include <mutex>

namespace hexa::train {

const at::Tensor& Take(const StateDict& state, const std::string& name) {
  auto it = state.find(name);
  TORCH_CHECK(it != state.end(), "checkpoint has no tensor '", name, "'");
  TORCH_CHECK(it->second.defined(), "checkpoint tensor '", name, "' is undefined");
  return it->second;
}

const at::Tensor& TakeLike(const StateDict& state, const std::string& name, const at::Tensor& like) {
  const at::Tensor& t = Take(state, name);
  TORCH_CHECK(t.sizes() == like.sizes(), "checkpoint tensor '", name, "' has shape ", t.sizes(), ", the model's is ",
              like.sizes());
  TORCH_CHECK(t.scalar_type() == like.scalar_type(), "checkpoint tensor '", name, "' is ", t.scalar_type(),
              ", the model's is ", like.scalar_type());
  return t;
}

void SaveModule(const torch::nn::Module& module, const std::string& prefix, StateDict& out) {
  for (auto& p : module.named_parameters()) out[prefix + p.key()] = p.value().detach();
  for (auto& b : module.named_buffers()) out[prefix + b.key()] = b.value();
}

void LoadModule(torch::nn::Module& module, const std::string& prefix, const StateDict& state) {
  torch::NoGradGuard no_grad;
  for (auto& p : module.named_parameters()) p.value().copy_(TakeLike(state, prefix + p.key(), p.value()));
  for (auto& b : module.named_buffers()) b.value().copy_(TakeLike(state, prefix + b.key(), b.value()));
}

void SaveGenerator(at::Generator& gen, const std::string& name, StateDict& out) {
  std::lock_guard<std::mutex> lock(gen.mutex());
  out[name] = gen.get_state();
}

void LoadGenerator(at::Generator& gen, const std::string& name, const StateDict& state) {
  const at::Tensor& s = Take(state, name);
  std::lock_guard<std::mutex> lock(gen.mutex());
  const at::Tensor own = gen.get_state();
  TORCH_CHECK(s.scalar_type() == at::kByte && s.dim() == 1 && s.numel() == own.numel(), "checkpoint tensor '", name,
              "' must be a uint8 vector of ", own.numel(), " bytes (a generator state), got ", s.scalar_type(), " ",
              s.sizes());
  gen.set_state(s.cpu().contiguous());
}

}  // namespace hexa::train
