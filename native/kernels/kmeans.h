// Spherical k-means for DeepCluster-v2 (x rows and centroids L2-normalised by the caller).
//
// Assignment: index[i] = argmax_k x_i . c_k and score[i] its value, computed in chunks of
// rows (one [chunk, K] GEMM buffer, reused) with a fused per-row argmax over each chunk.
// Ties go to the lowest centroid index (as torch.argmax's documented first occurrence).
// The winning score is recomputed as one dot product in a fixed order, so it is the same
// for every chunk size; the index could only change with the chunking if two centroids
// were within the GEMM's rounding (~1e-7 relative in float32) of each other.
//
// Update: per cluster the sum of its members, re-normalised to unit L2 norm (as
// F.normalize, eps 1e-12); an empty cluster keeps its row of `previous`.
//   CPU: members grouped by a counting sort (stable: ascending row order), then clusters in
//        parallel, each summed by one thread in float64: race-free and deterministic.
//   CUDA: atomicAdd of every member row into its cluster's sum (in the data's dtype) and of
//        1 into its count, then one block per cluster normalises: fast, but the order of
//        float additions, so the last bits, may vary between runs.
#pragma once
#include <ATen/ATen.h>

namespace hexa::kernels {

// Rows per chunk so one chunk's [rows, K] buffer is at most 64 MiB (at least 1 row).
int64_t kmeans_default_chunk_rows(int64_t k, at::ScalarType dtype);

// x [N, C], centroids [K, C] (same floating dtype and device); index int64 [N] and score
// [N] (x's dtype) are written in full. chunk_rows <= 0 means the default.
void kmeans_assign_out(const at::Tensor& x, const at::Tensor& centroids, int64_t chunk_rows, at::Tensor& index,
                       at::Tensor& score);

// assignment int64 [N] with values in [0, k); previous [k, C]. Writes centroids [k, C] (x's
// dtype) and counts int64 [k]. `centroids` may be `previous` itself (in-place update).
void kmeans_update_centroids_out(const at::Tensor& x, const at::Tensor& assignment, int64_t k,
                                 const at::Tensor& previous, at::Tensor& centroids, at::Tensor& counts);

// Device parts (arguments already checked and contiguous). rows_argmax: index[i] = the
// first argmax of scores[i], best[i] = x[i] . centroids[index[i]] recomputed in a fixed
// order (so the score does not depend on the GEMM's chunking).
void rows_argmax_cpu(const at::Tensor& scores, const at::Tensor& x, const at::Tensor& centroids, at::Tensor& index,
                     at::Tensor& best);
void kmeans_update_cpu(const at::Tensor& x, const at::Tensor& assignment, const at::Tensor& previous,
                       at::Tensor& centroids, at::Tensor& counts);
#ifdef HEXA_WITH_CUDA
void rows_argmax_cuda(const at::Tensor& scores, const at::Tensor& x, const at::Tensor& centroids, at::Tensor& index,
                      at::Tensor& best);
void kmeans_update_cuda(const at::Tensor& x, const at::Tensor& assignment, const at::Tensor& previous,
                        at::Tensor& centroids, at::Tensor& counts);
#endif

}  // namespace hexa::kernels
