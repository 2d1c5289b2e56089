// Named tensors in and out of a trainer (checkpoints), with strict checks on the way in: a
// checkpoint tensor must exist, and have the model's shape and dtype; nothing is broadcast.
#pragma once
#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <map>
#include <string>

namespace hexa::train {

using StateDict = std::map<std::string, at::Tensor>;

// The tensor `name` of `state`, or an error naming it.
const at::Tensor& Take(const StateDict& state, const std::string& name);
// Take(), plus: shape and dtype equal to `like`'s (the tensor it will be copied into).
const at::Tensor& TakeLike(const StateDict& state, const std::string& name, const at::Tensor& like);

// Every parameter and buffer of `module` as prefix + its name (detached, not copied).
void SaveModule(const torch::nn::Module& module, const std::string& prefix, StateDict& out);
// Copies prefix + name of every parameter and buffer of `module` from `state` (TakeLike rules).
void LoadModule(torch::nn::Module& module, const std::string& prefix, const StateDict& state);

// A generator's state under `name`; loading checks it is a uint8 vector of the generator's
// own state size before LibTorch reads it.
void SaveGenerator(at::Generator& gen, const std::string& name, StateDict& out);
void LoadGenerator(at::Generator& gen, const std::string& name, const StateDict& state);

}  // namespace hexa::train
