// DeepCluster-v2 and HEXA_DCluster (hexa-method.md, deepcluster-v2.md): an encoder with a
// projection head, a memory bank of the two large crops' embeddings of every image, H heads
// of frozen prototypes set each epoch to the spherical k-means centroids of the bank, and the
// cross-entropy of z·Pᵀ/τ to each image's assignment. HEXA_DCluster adds the shared hard
// views: PGD maximising that loss to the image's own assignments, and CutMix with per-head
// soft targets λ·onehot(a(i)) + (1−λ)·onehot(a(perm i)). The bank stores clean embeddings only.
// Views: the large crops (2), then the small crops (multi-crop).
#pragma once
#include <memory>
#include <vector>

#include "models/resnet.h"
#include "train/clustering.h"
#include "train/hard_views.h"
#include "train/optimizer.h"
#include "train/trainer.h"

namespace hexa::train {

struct DClusterOptions {
  models::EncoderOptions encoder;
  std::vector<int64_t> prototypes = {3000, 3000, 3000};  // K of each head
  double temperature = 0.1;
  int64_t kmeansIterations = 10;
  int64_t datasetSize = 0;  // bank rows: one per image
  int64_t smallCrops = 0;
  bool initPass = true;     // fill the bank before epoch 0 (swav); off: epoch 0 has no targets (solo-learn)
  OptimizerOptions optimizer;
  HardViewOptions hardViews;
  at::Device device = at::kCPU;
  uint64_t seed = 0;
};

// The rows of a batch that take part in a loss: all (rows undefined) or those listed.
struct LossRows {
  at::Tensor rows;  // int64, undefined when every row counts
  int64_t count = 0;
};

// Images without an assignment (never seen) carry this label and are left out of every loss.
inline constexpr int64_t kUnassigned = -100;

class DClusterTrainer final : public Trainer {
 public:
  explicit DClusterTrainer(const DClusterOptions& options);

  // Metrics: loss, lossClean, lossAdv, lossMix, accuracy (clean rows whose top prototype is
  // their assignment, mean over heads), assigned (fraction of the batch with targets), lr.
  Metrics step(const StepInputs& inputs, double lr) override;
  bool wantsInitPass() const override { return options_.initPass; }
  void observe(const StepInputs& inputs) override;
  // k-means per head; metrics per head h: kmeans<h>.nonEmpty, .largestShare, .nmi (to the
  // last epoch's assignment; absent at the first clustering), .reseeded.
  Metrics beginEpoch(const EpochInputs& inputs) override;
  at::Tensor embed(const at::Tensor& images) override;
  StateDict backboneState() override;
  ViewSpec viewSpec() const override { return {2, options_.smallCrops}; }
  at::Device device() const override { return options_.device; }

 protected:
  // "model.<param>", buffers, "optimizer.*", "prototypes.<h>", "bank" [2, N, D],
  // "bank_filled" uint8 [N], "assignments" int64 [H, N].
  void saveMethodState(StateDict& out) override;
  void loadMethodState(const StateDict& state) override;

 private:
  // L2-normalised embeddings of all views, the head run once on every crop's features.
  at::Tensor embedViews(const std::vector<at::Tensor>& views);
  // mean over heads of CE(z·P_hᵀ/τ, targets[h]) over `rows` (targets [H, z rows]); 0 with a
  // zero gradient when no row has a label.
  at::Tensor clusterLoss(const at::Tensor& z, const at::Tensor& targets, const LossRows& rows, at::Tensor* accuracy);
  at::Tensor cutmixLoss(const at::Tensor& z, const at::Tensor& targets, const LossRows& rows, const CutmixView& view);
  void writeBank(const at::Tensor& z, const at::Tensor& indices, int64_t n);

  DClusterOptions options_;
  models::Encoder model_{nullptr};
  std::unique_ptr<Optimizer> optimizer_;
  std::vector<at::Tensor> params_;      // the model's parameters, listed once (not every step)
  std::vector<at::Tensor> prototypes_;  // per head [K_h, D]: frozen, not parameters
  at::Tensor bank_;                     // [2, N, D]
  at::Tensor bankFilled_;               // uint8 [N]
  at::Tensor assignments_;              // int64 [H, N], kUnassigned where no label
};

}  // namespace hexa::train
