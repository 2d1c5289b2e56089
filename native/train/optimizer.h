// The optimizer of every trainer: SGD with PyTorch's semantics (weight decay added to the
// gradient, the momentum buffer starting as the first gradient, torch.optim.SGD bit for bit)
// and LARS on top of it (You et al.; swav's LARC with clip off, solo-learn's LARS):
//   g ← g + wd·p;  g ← g · η·‖p‖ / (‖∇‖ + wd·‖p‖)   (when ‖p‖ and ‖∇‖ are > 0)
// Parameters with one dimension (biases, BN) can be excluded from both weight decay and the
// adaptation (solo-learn's exclude_bias_n_norm). With `clip`, the adapted rate is capped at
// the global one (LARC's clip mode): g ← g · min(η‖p‖/(‖∇‖+wd‖p‖)/lr, 1).
#pragma once
#include <ATen/ATen.h>

#include <string>
#include <utility>
#include <vector>

#include "train/state_dict.h"

namespace hexa::train {

struct OptimizerOptions {
  enum class Kind { SGD, LARS } kind = Kind::SGD;
  double momentum = 0.9;
  double weightDecay = 1e-4;
  double trustCoefficient = 0.001;  // LARS η
  bool clip = false;
  bool excludeBiasAndNorm = true;   // LARS only
};

class Optimizer {
 public:
  // `named`: the trained parameters with the names their state is saved under.
  Optimizer(std::vector<std::pair<std::string, at::Tensor>> named, const OptimizerOptions& options);

  // set_to_none, as torch.optim's default; inPlace zeroes the defined gradients where they are
  // instead (a CUDA graph replays into the same gradient tensors: they must stay allocated).
  void zeroGrad(bool inPlace = false);
  void step(double lr);
  // The same update with lr a 0-dim tensor on the parameters' device, read there (a CUDA graph
  // replays it with each step's lr). Rounding differs from step(double) in the last step only:
  // p − round(lr·d) where step(double) computes p + (−lr)·d fused (torch.optim.SGD with a
  // Tensor lr and capturable=True does the same as this).
  void step(const at::Tensor& lr);
  // Whether every parameter that has a gradient also has its momentum buffer: then a step
  // allocates nothing and clones nothing (what a CUDA graph capture needs).
  bool allocationFree() const;
  // "optimizer.<name>.momentum_buffer" for every parameter that has one.
  void save(StateDict& out) const;
  void load(const StateDict& state);

 private:
  // One of lrHost / lrTensor (defined) is the learning rate.
  void update(double lrHost, const at::Tensor& lrTensor);
  std::vector<std::pair<std::string, at::Tensor>> params_;
  std::vector<at::Tensor> momentum_;  // undefined until the parameter's first step
  OptimizerOptions options_;
};

}  // namespace hexa::train
