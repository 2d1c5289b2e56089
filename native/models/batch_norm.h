// BatchNorm2d with torchvision's parameter names and one extra switch: how a forward pass
// treats the running statistics. HEXA's attack passes must not pollute them (method doc,
// step 3), and AdvProp-style auxiliary BN gives adversarial inputs statistics of their own.
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <optional>

namespace hexa::models {

enum class BatchNormMode {
  Normal,           // train: batch statistics, running statistics updated (torch.nn.BatchNorm2d)
  FrozenStats,      // train: batch statistics, running statistics left alone
  Auxiliary,        // the auxiliary BN's parameters, its running statistics updated
  AuxiliaryFrozen,  // the auxiliary BN's parameters, no statistics updated
};
// Without auxiliary BN built, the auxiliary modes act as FrozenStats.

// Sets the mode for forward passes on this thread while alive (the trainer's step runs on
// one worker thread, so a thread-local is exactly its scope).
class BatchNormModeGuard {
 public:
  explicit BatchNormModeGuard(BatchNormMode mode);
  ~BatchNormModeGuard();
  BatchNormModeGuard(const BatchNormModeGuard&) = delete;
  BatchNormModeGuard& operator=(const BatchNormModeGuard&) = delete;
  static BatchNormMode current();

 private:
  BatchNormMode previous_;
};

// Also serves [N, C] inputs (the DeepCluster head's BatchNorm1d): batch_norm is the same op.
class BatchNorm2dImpl : public torch::nn::Module {
 public:
  BatchNorm2dImpl(int64_t channels, bool auxiliary);
  torch::Tensor forward(const torch::Tensor& x);
  // relu(forward(x) + residual) (either part optional), as a ResNet block ends. Training-mode
  // passes on channels-last float32 or bfloat16 CPU activations run fused (kernels/batch_norm_act.h: 2
  // parallel regions forward and 2 backward instead of ~10); others compose ATen's ops.
  torch::Tensor forwardAct(const torch::Tensor& x, const std::optional<torch::Tensor>& residual, bool relu);

  torch::Tensor weight, bias, running_mean, running_var, num_batches_tracked;
  // Present only with auxiliary BN: aux_weight, aux_bias, aux_running_mean, aux_running_var.
  torch::Tensor aux_weight, aux_bias, aux_running_mean, aux_running_var;

 private:
  // The parameters, statistics and momentum a pass uses under the current BatchNormMode (and
  // the num_batches_tracked count of a normal training pass).
  struct Pass {
    torch::Tensor weight, bias, runningMean, runningVar;
    bool batchStatistics;
    double momentum;
  };
  Pass pass();
  bool auxiliary_;
};
TORCH_MODULE(BatchNorm2d);

}  // namespace hexa::models
