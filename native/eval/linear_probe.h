// The linear probe of self-supervised evaluation (swav eval_linear.py, MoCo main_lincls.py):
// a linear classifier trained on frozen, cached features with SGD (momentum, weight decay) and
// a cosine schedule to 0. Features are standardised with the training rows' mean and std
// while training (one learning rate then suits any backbone and raw pixels alike); the
// returned classifier has that folded in, so it applies to the raw features.
#pragma once
#include <ATen/ATen.h>

namespace hexa::eval {

struct LinearProbeOptions {
  int64_t classes = 10;
  int64_t epochs = 100;
  int64_t batchSize = 256;
  double lr = 0.1;
  double weightDecay = 0.0;
  double momentum = 0.9;
  uint64_t seed = 0;
};

struct LinearClassifier {
  at::Tensor weight;  // [classes, D], float32
  at::Tensor bias;    // [classes]
};

// features [N, D] floating, labels int64 [N] in [0, classes).
LinearClassifier TrainLinearClassifier(const at::Tensor& features, const at::Tensor& labels, const LinearProbeOptions& options);

struct TopK {
  int64_t top1 = 0;  // rows whose label is the highest score
  int64_t top5 = 0;  // rows whose label is among the 5 highest (all rows when classes <= 5)
  int64_t rows = 0;
};

// Hits of the classifier features · weightᵀ + bias against labels.
TopK ClassifierHits(const at::Tensor& features, const at::Tensor& labels, const at::Tensor& weight, const at::Tensor& bias);

}  // namespace hexa::eval
