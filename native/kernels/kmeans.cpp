#include "kernels/kmeans.h"
#include "kernels/device_dispatch.h"

namespace hexa::kernels {
namespace {

void CheckPair(const at::Tensor& x, const at::Tensor& c, const char* fn, const char* cn) {
  TORCH_CHECK_TYPE(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble, fn,
                   ": x must be float32 or float64, got ", x.scalar_type());
  TORCH_CHECK_VALUE(x.dim() == 2 && x.size(1) >= 1, fn, ": x must be [N, C] with C >= 1, got ", x.sizes());
  TORCH_CHECK_VALUE(c.dim() == 2 && c.size(0) >= 1 && c.size(1) == x.size(1), fn, ": ", cn, " must be [K, ", x.size(1),
                    "] with K >= 1, got ", c.sizes());
  TORCH_CHECK_TYPE(c.scalar_type() == x.scalar_type(), fn, ": ", cn, " must have x's dtype");
  TORCH_CHECK(c.device() == x.device(), fn, ": ", cn, " must be on x's device");
}

void CheckOut(const at::Tensor& t, at::IntArrayRef shape, at::ScalarType dtype, const at::Device& device, const char* what) {
  TORCH_CHECK_VALUE(t.sizes() == shape && t.scalar_type() == dtype && t.device() == device && t.is_contiguous(), what,
                    " must be a contiguous ", shape, " ", dtype, " tensor on ", device, ", got ", t.sizes(), " ",
                    t.scalar_type(), " on ", t.device());
}

}  // namespace

int64_t kmeans_default_chunk_rows(int64_t k, at::ScalarType dtype) {
  const int64_t budget = int64_t{64} << 20;
  return std::max<int64_t>(1, budget / (std::max<int64_t>(k, 1) * static_cast<int64_t>(at::elementSize(dtype))));
}

void kmeans_assign_out(const at::Tensor& x, const at::Tensor& centroids, int64_t chunk_rows, at::Tensor& index,
                       at::Tensor& score) {
  HEXA_RECORD_KERNEL("hexa::kmeans_assign_out");
  CheckPair(x, centroids, "kmeans_assign", "centroids");
  const int64_t n = x.size(0), k = centroids.size(0);
  CheckOut(index, {n}, at::kLong, x.device(), "kmeans_assign: index");
  CheckOut(score, {n}, x.scalar_type(), x.device(), "kmeans_assign: score");
  if (chunk_rows <= 0) chunk_rows = kmeans_default_chunk_rows(k, x.scalar_type());
  chunk_rows = std::min(chunk_rows, std::max<int64_t>(n, 1));
  at::Tensor buffer = at::empty({chunk_rows, k}, x.options());
  at::Tensor xc = x.contiguous(), cc = centroids.contiguous();
  at::Tensor centroids_t = cc.t();
  for (int64_t start = 0; start < n; start += chunk_rows) {
    const int64_t rows = std::min(chunk_rows, n - start);
    at::Tensor chunk = buffer.narrow(0, 0, rows);
    at::Tensor x_rows = xc.narrow(0, start, rows);
    at::mm_out(chunk, x_rows, centroids_t);
    at::Tensor idx = index.narrow(0, start, rows), best = score.narrow(0, start, rows);
    if (x.is_cuda()) {
#ifdef HEXA_WITH_CUDA
      rows_argmax_cuda(chunk, x_rows, cc, idx, best);
#else
      TORCH_CHECK(false, "kmeans_assign: this build has no CUDA kernels (use the cuda variant)");
#endif
    } else {
      rows_argmax_cpu(chunk, x_rows, cc, idx, best);
    }
  }
}

void kmeans_update_centroids_out(const at::Tensor& x, const at::Tensor& assignment, int64_t k,
                                 const at::Tensor& previous, at::Tensor& centroids, at::Tensor& counts) {
  HEXA_RECORD_KERNEL("hexa::kmeans_update_centroids_out");
  TORCH_CHECK_VALUE(k >= 1, "kmeans_update_centroids: k must be >= 1, got ", k);
  CheckPair(x, previous, "kmeans_update_centroids", "previous");
  const int64_t n = x.size(0), c = x.size(1);
  TORCH_CHECK_VALUE(previous.size(0) == k, "kmeans_update_centroids: previous must be [", k, ", ", c, "], got ",
                    previous.sizes());
  TORCH_CHECK_TYPE(assignment.scalar_type() == at::kLong, "kmeans_update_centroids: assignment must be int64");
  TORCH_CHECK_VALUE(assignment.dim() == 1 && assignment.size(0) == n, "kmeans_update_centroids: assignment must be [", n,
                    "], got ", assignment.sizes());
  TORCH_CHECK(assignment.device() == x.device(), "kmeans_update_centroids: assignment must be on x's device");
  CheckOut(centroids, {k, c}, x.scalar_type(), x.device(), "kmeans_update_centroids: centroids");
  CheckOut(counts, {k}, at::kLong, x.device(), "kmeans_update_centroids: counts");
  at::Tensor xc = x.contiguous(), ac = assignment.contiguous(), pc = previous.contiguous();
  // Both device parts check every assignment as they read it (once) and use only what they
  // checked, so another op writing `assignment` meanwhile cannot make them index out of bounds.
  if (x.is_cuda()) {
#ifdef HEXA_WITH_CUDA
    kmeans_update_cuda(xc, ac, pc, centroids, counts);
#else
    TORCH_CHECK(false, "kmeans_update_centroids: this build has no CUDA kernels (use the cuda variant)");
#endif
  } else {
    kmeans_update_cpu(xc, ac, pc, centroids, counts);
  }
}

}  // namespace hexa::kernels
