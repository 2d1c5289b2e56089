// MoCo-v2 and HEXA_MoCo in one trainer (hexa-method.md): a query encoder trained by SGD, a key
// encoder following it by momentum, a queue of keys, and the two hard views (hard_views.h),
// each switchable; with both off this is exactly MoCo-v2. Views: [query, key].
#pragma once
#include <memory>

#include "models/resnet.h"
#include "train/cuda_graph_step.h"
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
  // The graph-safe step (static mode): every input staged into a fixed buffer, lr and the
  // hard-view weights as device tensors, gradients zeroed in place, the queue pointer on the
  // device, metrics written to a device buffer. With cudaGraph (CUDA, one process) that step
  // is captured once into a CUDA graph and replayed; staticStep alone runs it eagerly (what
  // the CPU tests compare with the default step).
  bool staticStep = false;
  bool cudaGraph = false;  // implies staticStep
};

class MocoTrainer final : public Trainer {
 public:
  explicit MocoTrainer(const MocoOptions& options);

  // Metrics: loss, lossClean, lossAdv, lossMix, accuracy (top-1 of the positive key among
  // [k+, queue] on the clean view), lr; with cudaGraph also cudaGraphReplay (1 or 0).
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
  // Everything a step reads: the views, the randomness drawn on the host before the body
  // runs, the hard-view weights and lr. The default step passes the caller's and the freshly
  // drawn tensors; static mode passes its fixed buffers (staged_), refilled every step.
  struct BodyInputs {
    at::Tensor viewQ, viewK;
    at::Tensor keyShuffle;                 // int64 [world·N] on the device; undefined: no shuffle BN
    at::Tensor pgdNoise;                   // δ of the random start in viewQ's dtype; undefined: none
    at::Tensor perm, boxes;                // CutMix, int64 on the device (checked or sampled)
    at::Tensor adversarialWeight, cutmixWeight;  // 0-dim float64
    at::Tensor lr;                         // 0-dim float64: static mode's lr; undefined: lrHost
    double lrHost = 0;
  };
  // The host draws of a step from generator_, in the order the step always drew them (the key
  // shuffle, PGD's random start, CutMix's boxes, partners), or the injected ones, checked.
  BodyInputs draw(const StepInputs& in, const HardViewPlan& plan);
  // The step itself, graph-safe in static mode: metrics [clean, adv, mix, accuracy] on the device.
  // zeroGradsInPlace: static mode within one plan (the gradients keep their addresses).
  // *finite: false when fp16's loss scale overflowed and the step updated nothing.
  at::Tensor body(const BodyInputs& in, const HardViewPlan& plan, bool zeroGradsInPlace, bool* finite);
  // Static mode: copies the step's inputs into the fixed buffers (pinned host memory and
  // non-blocking copies for the host draws) and returns those buffers.
  BodyInputs stage(const BodyInputs& drawn, const HardViewPlan& plan);
  at::Tensor info_nce(const at::Tensor& q, const at::Tensor& k, at::Tensor* accuracy = nullptr);
  // The keys of this rank's views and of every rank's (gathered, rank order: what the queue
  // takes), through shuffle BN when a shuffle is given (distributed runs).
  std::pair<at::Tensor, at::Tensor> keys(const at::Tensor& viewK, const at::Tensor& shuffle);

  MocoOptions options_;
  models::Encoder query_{nullptr}, key_{nullptr};
  std::unique_ptr<Optimizer> optimizer_;
  std::vector<at::Tensor> queryParams_, keyParams_;
  at::Tensor queue_;  // [K, outDim], rows are keys
  int64_t queuePtr_ = 0;  // static mode: the host mirror of queuePtrDevice_ (checkpoints)
  // Static mode's fixed buffers (the graph reads and writes only these) and its graph.
  BodyInputs staged_;
  at::Tensor queuePtrDevice_, metrics_;
  std::string staticKey_;  // the plan and shapes of the last static step
  std::unique_ptr<StepGraph> graph_;
};

}  // namespace hexa::train
