// MoCo-v2 and HEXA_MoCo in one trainer (hexa-method.md): a query encoder trained by SGD, a key
// encoder following it by momentum, a queue of keys, and the two hard views (hard_views.h),
// each switchable; with both off this is exactly MoCo-v2. Views: [query, key].
#pragma once
#include <memory>

#include "models/resnet.h"
#include "train/hard_views.h"
#include "train/optimizer.h"
#include "train/trainer.h"

namespace hexa::train {

struct MocoOptions {
  models::EncoderOptions encoder;
  int64_t queueSize = 4096;
  double temperature = 0.2;
  double keyMomentum = 0.99;  // m of the key encoder (CIFAR: 0.99, ImageNet: 0.999)
  // Data-parallel runs: the key encoder's BN sees a random mix of every rank's key views
  // (MoCo's shuffle BN), so batch statistics cannot leak which key is the positive.
  bool shuffleBN = true;
  OptimizerOptions optimizer;
  HardViewOptions hardViews;
  at::Device device = at::kCPU;
  uint64_t seed = 0;
};

class MocoTrainer final : public Trainer {
 public:
  explicit MocoTrainer(const MocoOptions& options);

  // Metrics: loss, lossClean, lossAdv, lossMix, accuracy (top-1 of the positive key among
  // [k+, queue] on the clean view), lr.
  Metrics step(const StepInputs& inputs, double lr) override;
  at::Tensor embed(const at::Tensor& images) override;
  StateDict backboneState() override;
  ViewSpec viewSpec() const override { return {2, 0}; }
  at::Device device() const override { return options_.device; }

 protected:
  // "query.<param>", "key.<param>", buffers, "optimizer.<param>.momentum_buffer", "queue", "queue_ptr".
  void saveMethodState(StateDict& out) override;
  void loadMethodState(const StateDict& state) override;

 private:
  at::Tensor info_nce(const at::Tensor& q, const at::Tensor& k, at::Tensor* accuracy = nullptr);
  // The keys of this rank's views and of every rank's (gathered, rank order: what the queue
  // takes), through shuffle BN when on and distributed.
  std::pair<at::Tensor, at::Tensor> keys(const at::Tensor& viewK, const std::optional<at::Tensor>& shuffle);

  MocoOptions options_;
  models::Encoder query_{nullptr}, key_{nullptr};
  std::unique_ptr<Optimizer> optimizer_;
  std::vector<at::Tensor> queryParams_, keyParams_;
  at::Tensor queue_;  // [K, outDim], rows are keys
  int64_t queuePtr_ = 0;
};

}  // namespace hexa::train
