// CutMix (Yun et al. 2019): a box of the partner image perm[i] pasted into image i, and the
// soft targets that go with it. HEXA's second hard view.
#pragma once
#include <ATen/ATen.h>

#include <optional>
#include <vector>

namespace hexa::kernels {

struct CutmixSample {
  at::Tensor boxes;   // int64 [n, 4]: y0, x0, y1, x1, half-open, inside the image
  at::Tensor perm;    // int64 [n]: a random permutation, the partner of sample i is perm[i]
  at::Tensor lambda;  // float64 [n]: the visible fraction of image i, 1 − box area / (h·w)
};

// Per sample: λ ~ Beta(alpha, alpha) (two Gamma draws), cut = floor(side·sqrt(1 − λ)) per
// side, centre cy ~ U{0..h−1}, cx ~ U{0..w−1}, box [c − cut/2, c + cut/2) (integer halves,
// as the reference implementation's rand_bbox) clipped to the image, λ recomputed from the
// clipped box. All draws on the CPU from `gen`, in the order: Gammas, cy, cx, perm.
CutmixSample sampleCutmix(int64_t n, int64_t h, int64_t w, double alpha, std::optional<at::Generator> gen);

// Throws unless perm ([n], any integer dtype) holds every one of 0..n−1 once (reads values:
// a device sync for CUDA tensors).
void checkPermutation(const at::Tensor& perm, int64_t n);

// Throws unless perm is a permutation of 0..n−1 and every box lies in the h×w image with
// y0 <= y1, x0 <= x1 (reads values: a device sync for CUDA tensors).
void checkCutmixIndices(const at::Tensor& perm, const at::Tensor& boxes, int64_t n, int64_t h, int64_t w);

// out[i] = x[i] with box i replaced by x[perm[i]]'s box. x: [n, ..., h, w] (dims between the
// batch and the last two are channels). `out` may be x itself: then only the partners' box
// regions are first copied to a scratch buffer (no other pixel moves), so no box reads an
// already-overwritten partner. perm and boxes must pass checkCutmixIndices.
void cutmix(const at::Tensor& x, const at::Tensor& perm, const at::Tensor& boxes, const at::Tensor& out);

// Soft targets [n, numColumns] (lambda's dtype and device): λ_i at column col(i), 1 − λ_i at
// column col(perm[i]), summed when they coincide; col(j) = columns[j] if given, else j.
at::Tensor cutmixTargets(const at::Tensor& lambda, const at::Tensor& perm, int64_t numColumns,
                         const std::optional<at::Tensor>& columns);

namespace detail {

// cutmix and cutmixTargets (identity columns) without their value checks, for a caller whose
// perm and boxes come from sampleCutmix or passed checkCutmixIndices once: they read no value
// on the host (no device sync, no host table), so a CUDA graph can capture them. perm int64
// [n] and boxes int64 [n, 4], contiguous, on x's (lambda's) device; cutmixUnchecked is out of
// place only (out must not overlap x).
void cutmixUnchecked(const at::Tensor& x, const at::Tensor& perm, const at::Tensor& boxes, const at::Tensor& out);
at::Tensor cutmixTargetsUnchecked(const at::Tensor& lambda, const at::Tensor& perm, int64_t numColumns);

// One row per sample, host-side: what the device kernels need to know about sample i.
struct CutmixBox {
  int64_t partner, y0, x0, y1, x1;
};

// x and out viewed as [n, channels, h, w], contiguous.
struct CutmixGeometry {
  int64_t n, channels, h, w;
};

void cutmixCpu(const at::Tensor& x, const std::vector<CutmixBox>& boxes, const at::Tensor& out,
               const CutmixGeometry& g);
#ifdef HEXA_WITH_CUDA
void cutmixCuda(const at::Tensor& x, const std::vector<CutmixBox>& boxes, const at::Tensor& out,
                const CutmixGeometry& g);
// Out of place from a device table int64 [n, 6], rows (partner, y0, x0, y1, x1, unused).
void cutmixCudaDeviceTable(const at::Tensor& x, const at::Tensor& table, const at::Tensor& out,
                           const CutmixGeometry& g);
#endif

}  // namespace detail

}  // namespace hexa::kernels
