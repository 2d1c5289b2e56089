// What every self-supervised method's trainer is to the rest of hexa-torch: a step on the
// views of one batch, optional passes before training and at each epoch's start, backbone
// features for evaluation, and its whole state by name for checkpoints. The binding holds a
// Trainer (one handle type); each method is one file implementing it (moco_trainer.*,
// dcluster_trainer.*), built from the shared pieces: hard_views, optimizer, state_dict.
#pragma once
#include <ATen/ATen.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "dist/communicator.h"
#include "train/grad_scaler.h"
#include "train/state_dict.h"

namespace hexa::train {

// Scalars of a step or an epoch, by name, in a stable order (what metrics.jsonl records).
using Metrics = std::vector<std::pair<std::string, double>>;

// The views of one step, and optionally the randomness of its hard views (tests inject it;
// otherwise the trainer draws it from its generator).
struct StepInputs {
  // float [N,3,H,W] in [0,1] on the trainer's device, in the method's order (MoCo: query,
  // key; DeepCluster: the large crops, then the small crops).
  std::vector<at::Tensor> views;
  std::optional<at::Tensor> indices;   // int64 [N]: dataset indices (DeepCluster's memory bank)
  std::optional<at::Tensor> pgdNoise;  // [N,3,H,W] in [-eps, eps]: the random start
  std::optional<at::Tensor> perm;      // int64 [N]
  std::optional<at::Tensor> boxes;     // int64 [N,4] (y0, x0, y1, x1), half-open
  // MoCo's shuffle BN across ranks: int64 [worldSize·N], the permutation of the gathered key
  // views (the same on every rank; otherwise rank 0 draws it and broadcasts it).
  std::optional<at::Tensor> keyShuffle;
  // Multiplies both hard-view weights for this step; 0 skips the hard views entirely (the
  // base method's step), which is how a run starts them late (hardViewStartEpoch).
  double hardViewScale = 1.0;
};

struct EpochInputs {
  int64_t epoch = 0;
  // DeepCluster: the k-means initial centroids per head (tests inject them; otherwise
  // random bank rows drawn from the trainer's generator).
  std::optional<std::vector<at::Tensor>> initialCentroids;
};

// How many views of which kind a method's step takes (the TS side makes them).
struct ViewSpec {
  int64_t large = 2;  // same-size crops
  int64_t small = 0;  // multi-crop's small crops
};

class Trainer {
 public:
  // Two CPU generators, both owned here and saved in state(): one for the hard views and the
  // method's own draws (seed + 1), one for the augmentations the TS side samples (seed + 2).
  explicit Trainer(uint64_t seed);
  virtual ~Trainer() = default;

  virtual Metrics step(const StepInputs& inputs, double lr) = 0;
  // Whether the run must call observe() on every batch of one pass before epoch 0.
  virtual bool wantsInitPass() const { return false; }
  // A no-grad look at a batch before training (DeepCluster fills its memory bank).
  virtual void observe(const StepInputs& inputs) {}
  // At the start of every epoch (DeepCluster: k-means on the bank); metrics of that work.
  virtual Metrics beginEpoch(const EpochInputs& inputs) { return {}; }
  // Pooled backbone features of images (float [N,3,H,W] in [0,1]), eval mode, no grad.
  virtual at::Tensor embed(const at::Tensor& images) = 0;
  // The trained backbone with torchvision's names (no auxiliary BN): what export writes.
  virtual StateDict backboneState() = 0;
  virtual ViewSpec viewSpec() const = 0;
  virtual at::Device device() const = 0;

  // Everything a checkpoint needs, by name: the method's tensors plus both generators.
  StateDict state();
  // In a data-parallel world every rank loads the same state; each rank other than 0 then
  // forks its generators (hard views, augmentations differ per rank; rank 0 continues as saved).
  void loadState(const StateDict& state);

  // Joins a data-parallel world (docs/distributed.md): rank 0's whole state on every rank,
  // then this rank's own random streams. Steps then average gradients over the ranks and
  // each method shares what it must (MoCo: keys, shuffle BN; DeepCluster: bank, k-means).
  // Single-process trainers hold dist::Single(), whose collectives are the identity.
  void attach(std::shared_ptr<dist::Communicator> comm);
  dist::Communicator& comm() const { return *comm_; }

  at::Generator& generator() { return generator_; }
  at::Generator& augmentGenerator() { return augmentGenerator_; }

 protected:
  virtual void saveMethodState(StateDict& out) = 0;
  virtual void loadMethodState(const StateDict& state) = 0;
  at::Generator generator_, augmentGenerator_;
  std::shared_ptr<dist::Communicator> comm_ = dist::Single();
  // fp16's dynamic loss scale (methods enable it when the backbone computes in float16); in
  // state() with the generators.
  GradScaler scaler_;
};

}  // namespace hexa::train
