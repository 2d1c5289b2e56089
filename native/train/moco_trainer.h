// MoCo-v2 and HEXA_MoCo in one trainer (hexa-method.md): a query encoder trained by SGD, a key
// encoder following it by momentum, a queue of keys, and the two hard views (adversarial by
// PGD, CutMix with soft targets), each switchable; with both off this is exactly MoCo-v2.
// One step() is the whole iteration after augmentation; it runs on one worker thread.
#pragma once
#include <torch/optim/sgd.h>

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "models/resnet.h"

namespace hexa::train {

struct AdversarialOptions {
  bool enabled = true;
  double eps = 8.0 / 255, stepSize = 2.0 / 255;
  int64_t steps = 2;
  bool randomStart = true;
  double weight = 1.0;
};

struct CutmixOptions {
  bool enabled = true;
  double alpha = 1.0;
  double weight = 1.0;
};

struct MocoOptions {
  models::EncoderOptions encoder;
  int64_t queueSize = 4096;
  double temperature = 0.2;
  double keyMomentum = 0.99;  // m of the key encoder (CIFAR: 0.99, ImageNet: 0.999)
  double sgdMomentum = 0.9;
  double weightDecay = 1e-4;
  AdversarialOptions adversarial;
  CutmixOptions cutmix;
  at::Device device = at::kCPU;
  uint64_t seed = 0;
};

// The views of one step, and optionally the randomness of its hard views (tests inject it;
// otherwise the trainer draws it from its generator).
struct StepInputs {
  at::Tensor viewQ, viewK;              // float [N,3,H,W] in [0,1] on the device
  std::optional<at::Tensor> pgdNoise;   // [N,3,H,W] in [-eps, eps]: the random start
  std::optional<at::Tensor> perm;       // int64 [N]
  std::optional<at::Tensor> boxes;      // int64 [N,4] (y0, x0, y1, x1), half-open
  // Multiplies both hard-view weights for this step; 0 skips the hard views entirely (a
  // MoCo-v2 step), which is how a run starts them late (TrainConfig.hardViewStartEpoch).
  double hardViewScale = 1.0;
};

struct StepMetrics {
  double loss = 0, lossClean = 0, lossAdv = 0, lossMix = 0;
  double accuracy = 0;  // top-1 of the positive key among [k+, queue] on the clean view
  double lr = 0;
};

class MocoTrainer {
 public:
  explicit MocoTrainer(const MocoOptions& options);

  StepMetrics step(const StepInputs& inputs, double lr);
  // Backbone features of images (float [N,3,H,W] in [0,1]), eval mode, no grad.
  at::Tensor embed(const at::Tensor& images, bool keyEncoder = false);

  // Everything a checkpoint needs, by name: "query.<param>", "key.<param>", buffers,
  // "optimizer.<param>.momentum_buffer", "queue", "queue_ptr", "generator_state".
  std::map<std::string, at::Tensor> state();
  void loadState(const std::map<std::string, at::Tensor>& state);

  const MocoOptions& options() const { return options_; }
  int64_t queuePointer() const { return queuePtr_; }
  at::Generator& generator() { return generator_; }

 private:
  at::Tensor info_nce(const at::Tensor& q, const at::Tensor& k, at::Tensor* accuracy = nullptr);
  at::Tensor adversarial_view(const at::Tensor& viewQ, const at::Tensor& k, const std::optional<at::Tensor>& noise);

  MocoOptions options_;
  models::Encoder query_{nullptr}, key_{nullptr};
  std::unique_ptr<torch::optim::SGD> optimizer_;
  std::vector<at::Tensor> queryParams_, keyParams_;
  at::Tensor queue_;  // [K, outDim], rows are keys
  int64_t queuePtr_ = 0;
  at::Generator generator_;
};

}  // namespace hexa::train
