// CutMix: sampling, index checks, targets (small ATen work) and the dispatch of the paste.
#include "kernels/cutmix.h"

#include <ATen/MemoryOverlap.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/device_dispatch.h"

namespace hexa::kernels {

CutmixSample sampleCutmix(int64_t n, int64_t h, int64_t w, double alpha, std::optional<at::Generator> gen) {
  HEXA_RECORD_KERNEL("hexa::sampleCutmix");
  TORCH_CHECK(n >= 0 && h >= 1 && w >= 1, "sampleCutmix: n must be >= 0 and h, w >= 1");
  TORCH_CHECK(std::isfinite(alpha) && alpha > 0, "sampleCutmix: alpha must be finite and > 0");
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  const auto i64 = at::TensorOptions().dtype(at::kLong);
  const at::Tensor shape = at::full({n}, alpha, f64);
  const at::Tensor ga = at::_standard_gamma(shape, gen), gb = at::_standard_gamma(shape, gen);
  const at::Tensor cy = at::randint(h, {n}, gen, i64), cx = at::randint(w, {n}, gen, i64);
  CutmixSample s{at::empty({n, 4}, i64), at::randperm(n, gen, i64), at::empty({n}, f64)};
  const double* a = ga.const_data_ptr<double>();
  const double* b = gb.const_data_ptr<double>();
  const int64_t* cys = cy.const_data_ptr<int64_t>();
  const int64_t* cxs = cx.const_data_ptr<int64_t>();
  auto* box = s.boxes.mutable_data_ptr<int64_t>();
  auto* lam = s.lambda.mutable_data_ptr<double>();
  for (int64_t i = 0; i < n; ++i) {
    // Both Gammas can underflow to 0 for a tiny alpha: then Beta's mass sits at 0 and 1 alike.
    const double sum = a[i] + b[i];
    const double drawn = sum > 0 ? a[i] / sum : 0.5;
    const double ratio = std::sqrt(1.0 - drawn);
    const int64_t cutH = static_cast<int64_t>(std::floor(static_cast<double>(h) * ratio));
    const int64_t cutW = static_cast<int64_t>(std::floor(static_cast<double>(w) * ratio));
    const int64_t y0 = std::clamp<int64_t>(cys[i] - cutH / 2, 0, h), y1 = std::clamp<int64_t>(cys[i] + cutH / 2, 0, h);
    const int64_t x0 = std::clamp<int64_t>(cxs[i] - cutW / 2, 0, w), x1 = std::clamp<int64_t>(cxs[i] + cutW / 2, 0, w);
    box[4 * i + 0] = y0;
    box[4 * i + 1] = x0;
    box[4 * i + 2] = y1;
    box[4 * i + 3] = x1;
    lam[i] = 1.0 - static_cast<double>((y1 - y0) * (x1 - x0)) / static_cast<double>(h * w);
  }
  return s;
}

namespace {

// A private CPU int64 copy of an index tensor, taken once: every check and every use reads
// this copy, never the caller's tensor again, so another op writing that tensor meanwhile
// (an async op on the thread pool) cannot slip an unchecked index past the checks.
at::Tensor privateIndexCopy(const at::Tensor& t) {
  return t.to(at::kCPU, at::kLong, /*non_blocking=*/false, /*copy=*/true).contiguous();
}

// Throws unless pv[0..n) holds every one of 0..n-1 once.
void checkPermutationValues(const int64_t* pv, int64_t n) {
  std::vector<bool> seen(static_cast<size_t>(n), false);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t v = pv[i];  // read once: the checked value is the value used
    TORCH_CHECK_VALUE(v >= 0 && v < n, "perm must be a permutation of 0..", n - 1, ", but perm[", i, "] is ", v);
    TORCH_CHECK_VALUE(!seen[v], "perm must be a permutation of 0..", n - 1, ", but ", v, " appears twice");
    seen[v] = true;
  }
}

// The checked per-sample table of cutmix, built from private copies of perm and boxes.
std::vector<detail::CutmixBox> checkedCutmixTable(const at::Tensor& perm, const at::Tensor& boxes, int64_t n,
                                                  int64_t h, int64_t w) {
  TORCH_CHECK(perm.dim() == 1 && perm.size(0) == n, "perm must have shape [", n, "], got ", perm.sizes());
  TORCH_CHECK(boxes.dim() == 2 && boxes.size(0) == n && boxes.size(1) == 4, "boxes must have shape [", n,
              ", 4], got ", boxes.sizes());
  const at::Tensor p = privateIndexCopy(perm), b = privateIndexCopy(boxes);
  const int64_t* pv = p.const_data_ptr<int64_t>();
  const int64_t* bv = b.const_data_ptr<int64_t>();
  checkPermutationValues(pv, n);
  std::vector<detail::CutmixBox> table(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t y0 = bv[4 * i], x0 = bv[4 * i + 1], y1 = bv[4 * i + 2], x1 = bv[4 * i + 3];
    TORCH_CHECK_VALUE(0 <= y0 && y0 <= y1 && y1 <= h && 0 <= x0 && x0 <= x1 && x1 <= w, "boxes[", i, "] = (", y0,
                      ", ", x0, ", ", y1, ", ", x1, ") must satisfy 0 <= y0 <= y1 <= ", h, " and 0 <= x0 <= x1 <= ", w);
    table[i] = {pv[i], y0, x0, y1, x1};
  }
  return table;
}

}  // namespace

void checkPermutation(const at::Tensor& perm, int64_t n) {
  TORCH_CHECK(perm.dim() == 1 && perm.size(0) == n, "perm must have shape [", n, "], got ", perm.sizes());
  const at::Tensor p = privateIndexCopy(perm);
  checkPermutationValues(p.const_data_ptr<int64_t>(), n);
}

void checkCutmixIndices(const at::Tensor& perm, const at::Tensor& boxes, int64_t n, int64_t h, int64_t w) {
  checkedCutmixTable(perm, boxes, n, h, w);
}

void cutmix(const at::Tensor& x, const at::Tensor& perm, const at::Tensor& boxes, const at::Tensor& out) {
  HEXA_RECORD_KERNEL("hexa::cutmix");
  TORCH_CHECK(x.dim() >= 3, "cutmix: x must be [n, ..., h, w], got ", x.sizes());
  TORCH_CHECK(out.sizes() == x.sizes() && out.scalar_type() == x.scalar_type() && out.device() == x.device(),
              "cutmix: out must match x's shape, dtype and device");
  TORCH_CHECK(out.is_contiguous(), "cutmix: out must be contiguous");
  const int64_t n = x.size(0), h = x.size(-2), w = x.size(-1);
  // The kernels index with this table only: it is checked after it was copied.
  const std::vector<detail::CutmixBox> table = checkedCutmixTable(perm, boxes, n, h, w);
  if (x.numel() == 0) return;
  const detail::CutmixGeometry geometry{n, x.numel() / (n * h * w), h, w};
  // out == x is the in-place case the kernels handle; any other overlap (a view sharing part
  // of x's memory) cannot be ordered safely, so then the kernels read from a copy of x.
  at::Tensor src = x.contiguous();
  const auto overlap = at::get_overlap_status(src, out);
  if (overlap != at::MemOverlapStatus::No && overlap != at::MemOverlapStatus::Full) src = src.clone();
  if (x.is_cpu()) return detail::cutmixCpu(src, table, out, geometry);
#ifdef HEXA_WITH_CUDA
  if (x.is_cuda()) return detail::cutmixCuda(src, table, out, geometry);
#endif
  detail::unsupportedDevice("cutmix", x.device());
}

namespace {
// λ_i at column own[i], 1 − λ_i at column partner[i] (summed when they coincide).
at::Tensor scatterTargets(const at::Tensor& lambda, const at::Tensor& own, const at::Tensor& partner,
                          int64_t numColumns) {
  const int64_t n = lambda.size(0);
  at::Tensor targets = at::zeros({n, numColumns}, lambda.options());
  targets.scatter_add_(1, own.view({n, 1}), lambda.view({n, 1}));
  targets.scatter_add_(1, partner.view({n, 1}), (1 - lambda).view({n, 1}));
  return targets;
}
}  // namespace

at::Tensor cutmixTargets(const at::Tensor& lambda, const at::Tensor& perm, int64_t numColumns,
                         const std::optional<at::Tensor>& columns) {
  const int64_t n = lambda.size(0);
  TORCH_CHECK(perm.dim() == 1 && perm.size(0) == n, "perm must have shape [", n, "], got ", perm.sizes());
  // Private copies, checked, then used: never the caller's tensors again.
  const at::Tensor pc = privateIndexCopy(perm);
  checkPermutationValues(pc.const_data_ptr<int64_t>(), n);
  at::Tensor ownc = columns ? privateIndexCopy(*columns) : at::arange(n, pc.options());
  TORCH_CHECK(ownc.dim() == 1 && ownc.size(0) == n, "columns must have shape [", n, "], got ", ownc.sizes());
  const int64_t* cv = ownc.const_data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i)
    TORCH_CHECK_VALUE(cv[i] >= 0 && cv[i] < numColumns, "every column must be in [0, ", numColumns, "), got columns[",
                      i, "] = ", cv[i]);
  const at::Tensor p = pc.to(lambda.device()), own = ownc.to(lambda.device());
  return scatterTargets(lambda, own, own.index_select(0, p), numColumns);
}

namespace detail {

void cutmixUnchecked(const at::Tensor& x, const at::Tensor& perm, const at::Tensor& boxes, const at::Tensor& out) {
  HEXA_RECORD_KERNEL("hexa::cutmixUnchecked");
  TORCH_CHECK(x.dim() >= 3 && out.sizes() == x.sizes() && out.scalar_type() == x.scalar_type() &&
                  out.device() == x.device() && out.is_contiguous(),
              "cutmixUnchecked: out must be contiguous and match x's shape, dtype and device");
  const int64_t n = x.size(0), h = x.size(-2), w = x.size(-1);
  TORCH_CHECK(perm.sizes() == at::IntArrayRef{n} && boxes.sizes() == at::IntArrayRef({n, 4}) &&
                  perm.scalar_type() == at::kLong && boxes.scalar_type() == at::kLong &&
                  perm.device() == x.device() && boxes.device() == x.device(),
              "cutmixUnchecked: perm must be int64 [n] and boxes int64 [n, 4] on x's device");
  TORCH_CHECK(at::get_overlap_status(x, out) == at::MemOverlapStatus::No, "cutmixUnchecked: out must not overlap x");
  if (x.numel() == 0) return;
  const detail::CutmixGeometry geometry{n, x.numel() / (n * h * w), h, w};
  const at::Tensor src = x.contiguous();
  if (x.is_cpu()) {
    // On the CPU the values are already on the host: the same table cutmix builds, unchecked.
    const at::Tensor p = perm.contiguous(), b = boxes.contiguous();
    const int64_t* pv = p.const_data_ptr<int64_t>();
    const int64_t* bv = b.const_data_ptr<int64_t>();
    std::vector<CutmixBox> table(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) table[i] = {pv[i], bv[4 * i], bv[4 * i + 1], bv[4 * i + 2], bv[4 * i + 3]};
    return cutmixCpu(src, table, out, geometry);
  }
#ifdef HEXA_WITH_CUDA
  // The CUDA kernels' table rows: partner, y0, x0, y1, x1, scratch offset (unused out of place).
  if (x.is_cuda())
    return cutmixCudaDeviceTable(src, at::cat({perm.view({n, 1}), boxes, at::zeros({n, 1}, perm.options())}, 1), out,
                                 geometry);
#endif
  unsupportedDevice("cutmix", x.device());
}

at::Tensor cutmixTargetsUnchecked(const at::Tensor& lambda, const at::Tensor& perm, int64_t numColumns) {
  HEXA_RECORD_KERNEL("hexa::cutmixTargetsUnchecked");
  const int64_t n = lambda.size(0);
  TORCH_CHECK(perm.sizes() == at::IntArrayRef{n} && perm.device() == lambda.device(),
              "cutmixTargetsUnchecked: perm must be [", n, "] on lambda's device");
  // own = 0..n-1, so own[perm[i]] = perm[i]: the same scatter as cutmixTargets.
  return scatterTargets(lambda, at::arange(n, perm.options()), perm, numColumns);
}

}  // namespace detail

}  // namespace hexa::kernels
