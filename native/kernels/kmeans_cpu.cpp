// CPU parts of k-means: the fused argmax over a chunk's GEMM output, and the race-free
// centroid update (counting sort by cluster, then one thread per cluster).
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu_simd.h"
#include "kernels/kmeans.h"

namespace hexa::kernels {
namespace {

template <class T>
HEXA_ALWAYS_INLINE void ArgmaxRows(const T* s, int64_t k, const T* x, const T* centroids, int64_t c, int64_t* index,
                                   T* best, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; ++i) {
    const T* row = s + i * k;
    const int64_t j = simd::FirstEqual(row, k, simd::Max(row, k));  // the row is in L1: a cheap second sweep
    // A row of NaN only (no element equals the max): centroid 0, as on CUDA.
    const int64_t winner = j < k ? j : 0;
    index[i] = winner;
    // The score again, in a fixed order: the GEMM's rounding depends on how many rows it
    // gets (MKL takes other paths for 1 row), this does not, so chunking never changes it.
    // (From `winner`, never read back from `index`: that may be a caller's out tensor
    // another op is writing.)
    best[i] = simd::Dot(x + i * c, centroids + winner * c, c);
  }
}
HEXA_CPU_CLONES void ArgmaxRowsFloat(const float* s, int64_t k, const float* x, const float* cen, int64_t c, int64_t* idx,
                                     float* best, int64_t b, int64_t e) {
  ArgmaxRows(s, k, x, cen, c, idx, best, b, e);
}
HEXA_CPU_CLONES void ArgmaxRowsDouble(const double* s, int64_t k, const double* x, const double* cen, int64_t c,
                                      int64_t* idx, double* best, int64_t b, int64_t e) {
  ArgmaxRows(s, k, x, cen, c, idx, best, b, e);
}
void RunArgmaxRows(const float* s, int64_t k, const float* x, const float* cen, int64_t c, int64_t* idx, float* best,
                   int64_t b, int64_t e) {
  ArgmaxRowsFloat(s, k, x, cen, c, idx, best, b, e);
}
void RunArgmaxRows(const double* s, int64_t k, const double* x, const double* cen, int64_t c, int64_t* idx,
                   double* best, int64_t b, int64_t e) {
  ArgmaxRowsDouble(s, k, x, cen, c, idx, best, b, e);
}

}  // namespace

void rows_argmax_cpu(const at::Tensor& scores, const at::Tensor& x, const at::Tensor& centroids, at::Tensor& index,
                     at::Tensor& best) {
  AT_DISPATCH_FLOATING_TYPES(scores.scalar_type(), "rows_argmax_cpu", [&] {
    const int64_t n = scores.size(0), k = scores.size(1), c = x.size(1);
    const scalar_t* s = scores.const_data_ptr<scalar_t>();
    const scalar_t* xs = x.const_data_ptr<scalar_t>();
    const scalar_t* cs = centroids.const_data_ptr<scalar_t>();
    int64_t* idx = index.data_ptr<int64_t>();
    scalar_t* b = best.data_ptr<scalar_t>();
    at::parallel_for(0, n, std::max<int64_t>(1, 32768 / k),
                     [&](int64_t lo, int64_t hi) { RunArgmaxRows(s, k, xs, cs, c, idx, b, lo, hi); });
  });
}

void kmeans_update_cpu(const at::Tensor& x, const at::Tensor& assignment, const at::Tensor& previous,
                       at::Tensor& centroids, at::Tensor& counts) {
  const int64_t n = x.size(0), c = x.size(1), k = previous.size(0);
  // A private copy of the assignment, read once and checked as it is copied: the sort below
  // reads only this copy, so another op writing `assignment` meanwhile cannot make it index
  // out of bounds.
  std::vector<int64_t> a(static_cast<size_t>(n));
  {
    // Volatile loads: each value is loaded exactly once, so the one checked is the one kept.
    const volatile int64_t* given = assignment.const_data_ptr<int64_t>();
    int64_t lo = 0, hi = 0;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t v = given[i];
      a[i] = v;
      lo = i == 0 ? v : std::min(lo, v);
      hi = i == 0 ? v : std::max(hi, v);
    }
    TORCH_CHECK_VALUE(n == 0 || (lo >= 0 && hi < k), "kmeans_update_centroids: assignment must be in [0, ", k,
                      "), got values in [", lo, ", ", hi, "]");
  }
  int64_t* count = counts.data_ptr<int64_t>();
  // Counting sort of the rows by cluster (stable): members of cluster j are
  // order[offset[j] .. offset[j+1]), in ascending row order.
  std::vector<int64_t> offset(k + 1, 0), order(n);
  for (int64_t i = 0; i < n; ++i) ++offset[a[i] + 1];
  for (int64_t j = 0; j < k; ++j) {
    count[j] = offset[j + 1];
    offset[j + 1] += offset[j];
  }
  {
    std::vector<int64_t> cursor(offset.begin(), offset.end() - 1);
    for (int64_t i = 0; i < n; ++i) order[cursor[a[i]]++] = i;
  }
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "kmeans_update_cpu", [&] {
    const scalar_t* xs = x.const_data_ptr<scalar_t>();
    const scalar_t* prev = previous.const_data_ptr<scalar_t>();
    scalar_t* out = centroids.data_ptr<scalar_t>();
    // Clusters in parallel: each is summed (in float64) and written by exactly one thread.
    const int64_t avg_rows = std::max<int64_t>(1, n / k);
    at::parallel_for(0, k, std::max<int64_t>(1, 16384 / (avg_rows * c)), [&](int64_t lo, int64_t hi) {
      std::vector<double> sum(c);
      for (int64_t j = lo; j < hi; ++j) {
        scalar_t* dst = out + j * c;
        if (offset[j] == offset[j + 1]) {
          if (dst != prev + j * c) std::copy(prev + j * c, prev + (j + 1) * c, dst);
          continue;
        }
        std::fill(sum.begin(), sum.end(), 0.0);
        for (int64_t m = offset[j]; m < offset[j + 1]; ++m) {
          const scalar_t* row = xs + order[m] * c;
          for (int64_t d = 0; d < c; ++d) sum[d] += static_cast<double>(row[d]);
        }
        double norm2 = 0;
        for (int64_t d = 0; d < c; ++d) norm2 += sum[d] * sum[d];
        const double inv = 1.0 / std::max(std::sqrt(norm2), 1e-12);
        for (int64_t d = 0; d < c; ++d) dst[d] = static_cast<scalar_t>(sum[d] * inv);
      }
    });
  });
}

}  // namespace hexa::kernels
