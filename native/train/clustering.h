// DeepCluster-v2's per-epoch clustering (deepcluster-v2.md a.4): spherical k-means on the
// memory bank with the fused kernels (chunked: never an N×K matrix), and the statistics that
// tell a healthy clustering from a collapsing one.
#pragma once
#include <ATen/ATen.h>

#include <optional>

#include "dist/communicator.h"

namespace hexa::train {

struct KmeansOptions {
  int64_t k = 3000;
  int64_t iterations = 10;  // M-steps; one more E-step gives the final assignment (as swav)
  // Empty clusters are re-seeded after every M-step by splitting the largest cluster: its
  // centroid c becomes normalize(c ± δ·r) for a random unit direction r (DeepCluster's fix;
  // δ is larger than its 1e-7 so that the split survives float32 rounding).
  double splitDelta = 1e-4;
};

struct KmeansResult {
  at::Tensor centroids;   // [K, C], unit rows, x's dtype and device
  at::Tensor assignment;  // int64 [N] on x's device
  at::Tensor counts;      // int64 [K] of the final assignment, on the CPU
  int64_t reseeded = 0;   // empty clusters split into, over all iterations
};

// x [N, C] with unit rows. initial [K, C] when given (tests), else K distinct random rows of x
// drawn from gen. Requires N >= K.
KmeansResult SphericalKmeans(const at::Tensor& x, const KmeansOptions& o, const std::optional<at::Tensor>& initial,
                             at::Generator& gen);
// The same clustering with the work shared out over the ranks of `comm` (every rank holds the
// same x): each rank assigns its slice of the rows, the per-cluster sums (float64) and counts
// are all-reduced, rank 0 draws the initial centroids and re-seeds empty clusters (its
// generator) and broadcasts them, and the assignments are gathered. Single-process: the above.
KmeansResult SphericalKmeans(const at::Tensor& x, const KmeansOptions& o, const std::optional<at::Tensor>& initial,
                             at::Generator& gen, dist::Communicator& comm);

// Normalised mutual information (arithmetic mean normalisation, as sklearn's default) between
// two labelings of the same items, int64 [N] each; 1 when both are constant.
double NormalizedMutualInformation(const at::Tensor& a, const at::Tensor& b);

}  // namespace hexa::train
