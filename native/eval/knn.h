// The kNN monitor of self-supervised training (InstDisc / MoCo's CIFAR demo): cosine
// similarity to a labelled feature bank, the k nearest vote with weights exp(sim / τ).
#pragma once
#include <ATen/ATen.h>

namespace hexa::eval {

struct KnnOptions {
  int64_t k = 200;
  double temperature = 0.1;
  int64_t classes = 10;
  int64_t chunk = 256;  // query rows per similarity block: memory is chunk x bank rows
};

// bank [M, D] and queries [N, D] (L2-normalised by this function), bankLabels int64 [M] in
// [0, classes). Returns the predicted class of every query, int64 [N].
at::Tensor KnnPredict(const at::Tensor& bank, const at::Tensor& bankLabels, const at::Tensor& queries, const KnnOptions& options);

}  // namespace hexa::eval
