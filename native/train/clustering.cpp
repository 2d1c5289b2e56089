#include "train/clustering.h"

#include <cmath>

#include "kernels/kmeans.h"

namespace hexa::train {

namespace {

// Splits the largest cluster into every empty one; returns how many were empty.
int64_t ReseedEmpty(at::Tensor& centroids, at::Tensor& counts, double delta, at::Generator& gen) {
  at::Tensor c = counts.to(at::kCPU);
  auto cv = c.accessor<int64_t, 1>();
  int64_t reseeded = 0;
  for (int64_t e = 0; e < c.size(0); ++e) {
    if (cv[e] != 0) continue;
    int64_t big = 0;
    for (int64_t j = 1; j < c.size(0); ++j)
      if (cv[j] > cv[big]) big = j;
    if (cv[big] < 2) break;  // nothing left to split
    at::Tensor r = at::randn({centroids.size(1)}, gen, at::TensorOptions().dtype(at::kDouble));
    r = (r / r.norm()).to(centroids.options());
    at::Tensor base = centroids[big].clone();
    at::Tensor plus = base + delta * r, minus = base - delta * r;
    centroids[e].copy_(plus / plus.norm().clamp_min(1e-12));
    centroids[big].copy_(minus / minus.norm().clamp_min(1e-12));
    // Half the members each, as far as the next empty cluster's choice is concerned.
    cv[e] = cv[big] / 2;
    cv[big] -= cv[e];
    ++reseeded;
  }
  return reseeded;
}

// Checks the bank and the initial centroids and returns the starting ones: the given ones, or k
// distinct bank rows drawn from `gen` (drawRows false: rows 0..k-1 as placeholders, no draw).
at::Tensor StartingCentroids(const at::Tensor& x, const KmeansOptions& o, const std::optional<at::Tensor>& initial,
                             at::Generator& gen, bool drawRows) {
  const int64_t n = x.size(0), k = o.k;
  TORCH_CHECK(x.dim() == 2 && n >= 1, "k-means: the bank must be [N, C] with N >= 1, got ", x.sizes());
  TORCH_CHECK(k >= 1 && k <= n, "k-means: ", k, " clusters need at least as many bank rows, got ", n);
  if (initial) {
    TORCH_CHECK(initial->dim() == 2 && initial->size(0) == k && initial->size(1) == x.size(1),
                "k-means: initial centroids must be [", k, ", ", x.size(1), "], got ", initial->sizes());
    return initial->to(x.options()).clone();
  }
  const at::TensorOptions longs = at::TensorOptions().dtype(at::kLong);
  at::Tensor rows = drawRows ? at::randperm(n, gen, longs).slice(0, 0, k) : at::arange(k, longs);
  return x.index_select(0, rows.to(x.device())).clone();
}

}  // namespace

KmeansResult SphericalKmeans(const at::Tensor& x, const KmeansOptions& o, const std::optional<at::Tensor>& initial,
                             at::Generator& gen) {
  const int64_t n = x.size(0), k = o.k;
  KmeansResult r;
  r.centroids = StartingCentroids(x, o, initial, gen, /*drawRows=*/true);
  at::Tensor score = at::empty({n}, x.options());
  r.assignment = at::empty({n}, x.options().dtype(at::kLong));
  at::Tensor counts = at::empty({k}, x.options().dtype(at::kLong));
  for (int64_t it = 0;; ++it) {
    kernels::kmeans_assign_out(x, r.centroids, 0, r.assignment, score);
    if (it == o.iterations) break;
    kernels::kmeans_update_centroids_out(x, r.assignment, k, r.centroids, r.centroids, counts);
    r.reseeded += ReseedEmpty(r.centroids, counts, o.splitDelta, gen);
  }
  r.counts = at::bincount(r.assignment, {}, k).to(at::kCPU, at::kLong);
  return r;
}

KmeansResult SphericalKmeans(const at::Tensor& x, const KmeansOptions& o, const std::optional<at::Tensor>& initial,
                             at::Generator& gen, dist::Communicator& comm) {
  if (!comm.distributed()) return SphericalKmeans(x, o, initial, gen);
  const int64_t n = x.size(0), k = o.k, world = comm.worldSize();
  KmeansResult r;
  // Only rank 0 draws (its centroids are broadcast below), so the ranks' generators stay in step.
  r.centroids = StartingCentroids(x, o, initial, gen, /*drawRows=*/comm.rank() == 0);
  // Rank 0's centroids everywhere (initial ones given per rank could differ in their last bits).
  std::vector<at::Tensor> shared = {r.centroids};
  comm.broadcast(shared, 0);
  // This rank's rows: one contiguous slice of ceil(n / world) (the last ones may be shorter).
  const int64_t slice = (n + world - 1) / world;
  const int64_t lo = std::min(n, comm.rank() * slice), hi = std::min(n, lo + slice);
  const at::Tensor mine = x.slice(0, lo, hi);
  at::Tensor score = at::empty({hi - lo}, x.options());
  at::Tensor assignment = at::empty({hi - lo}, x.options().dtype(at::kLong));
  at::Tensor reseeded = at::zeros({1}, at::TensorOptions().dtype(at::kLong));
  for (int64_t it = 0;; ++it) {
    if (hi > lo) kernels::kmeans_assign_out(mine, r.centroids, 0, assignment, score);
    if (it == o.iterations) break;
    // Sums in float64 (as the CPU kernel), then normalised; an empty cluster keeps its centroid.
    at::Tensor sums = at::zeros({k, x.size(1)}, x.options().dtype(at::kDouble));
    if (hi > lo) sums.index_add_(0, assignment, mine.to(at::kDouble));
    at::Tensor counts = at::bincount(assignment, {}, k).to(x.options().dtype(at::kLong));
    std::vector<at::Tensor> reduce = {sums, counts};
    comm.allReduceSum(reduce);
    sums = reduce[0];
    counts = reduce[1];
    at::Tensor unit = (sums / sums.norm(2, {1}, true).clamp_min(1e-12)).to(x.scalar_type());
    r.centroids = at::where(counts.gt(0).unsqueeze(1), unit, r.centroids);
    if (comm.rank() == 0) reseeded += ReseedEmpty(r.centroids, counts, o.splitDelta, gen);
    std::vector<at::Tensor> after = {r.centroids};
    comm.broadcast(after, 0);
  }
  // Every rank's assignments, padded to whole slices for the gather.
  at::Tensor padded = at::full({slice}, -1, assignment.options());
  padded.slice(0, 0, hi - lo).copy_(assignment);
  r.assignment = comm.allGather(padded).slice(0, 0, n).contiguous();
  std::vector<at::Tensor> total = {reseeded};
  comm.broadcast(total, 0);
  r.reseeded = total[0].item<int64_t>();
  r.counts = at::bincount(r.assignment, {}, k).to(at::kCPU, at::kLong);
  return r;
}

double NormalizedMutualInformation(const at::Tensor& a, const at::Tensor& b) {
  TORCH_CHECK(a.dim() == 1 && a.sizes() == b.sizes(), "NMI: two labelings of the same length");
  const int64_t n = a.size(0);
  if (n == 0) return 1.0;
  at::Tensor x = a.to(at::kCPU, at::kLong), y = b.to(at::kCPU, at::kLong);
  auto entropyOf = [n](const at::Tensor& counts) {
    at::Tensor p = counts.to(at::kDouble) / static_cast<double>(n);
    p = p.masked_select(p > 0);
    return -(p * p.log()).sum().item<double>();
  };
  auto countsOf = [](const at::Tensor& keys) { return std::get<2>(at::_unique2(keys, false, false, true)); };
  const int64_t span = y.max().item<int64_t>() - y.min().item<int64_t>() + 1;
  at::Tensor joint = (x - x.min()) * span + (y - y.min());
  const double hx = entropyOf(countsOf(x)), hy = entropyOf(countsOf(y)), hxy = entropyOf(countsOf(joint));
  const double mi = hx + hy - hxy;
  if (hx + hy <= 0) return 1.0;
  return std::max(0.0, 2.0 * mi / (hx + hy));
}

}  // namespace hexa::train
