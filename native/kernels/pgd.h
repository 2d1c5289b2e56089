// PGD attack step and random start (Madry et al.): the adversarial-view kernels of HEXA.
#pragma once
#include <ATen/ATen.h>

#include <optional>

namespace hexa::kernels {

enum class PgdNorm { Linf, L2 };

// ‖grad‖₂ and ‖δ‖₂ are guarded with this floor (as torch.nn.functional.normalize's eps).
inline constexpr double kPgdNormFloor = 1e-12;

struct PgdStepOptions {
  double eps = 8.0 / 255;
  double stepSize = 2.0 / 255;
  PgdNorm norm = PgdNorm::Linf;
  double min = 0, max = 1;
};

// One PGD step, written into `out` (which may be xAdv itself, or xClean/grad: every element
// is read before it is written). All four tensors: same shape (dim 0 = batch), dtype, device.
//   L∞: out = clamp(clamp(xAdv + stepSize·sign(grad), xClean − eps, xClean + eps), min, max)
//   L2 (per sample, norms over all non-batch dims):
//       x = xAdv + stepSize·grad / max(‖grad‖₂, 1e-12);  δ = x − xClean
//       out = clamp(xClean + δ·(‖δ‖₂ > eps ? eps/‖δ‖₂ : 1), min, max)
void pgdStep(const at::Tensor& xAdv, const at::Tensor& xClean, const at::Tensor& grad, const at::Tensor& out,
             const PgdStepOptions& o);

struct PgdInitOptions {
  double eps = 8.0 / 255;
  PgdNorm norm = PgdNorm::Linf;
  double min = 0, max = 1;
};

// A uniform random start inside the ball around xClean, clamped to [min, max], into `out`.
// The noise is drawn on the CPU in float64 from `gen` (or the default CPU generator), so a
// seed gives the same start on every device:
//   L∞: δ ~ U(−eps, eps) per element.
//   L2: δ = eps·U^(1/d)·z/‖z‖₂ per sample, z ~ N(0, I_d), U ~ U(0, 1), d = elements per
//       sample: uniform in the d-dimensional ball (direction uniform on the sphere, radius
//       with density ∝ r^(d−1)).
void pgdInit(const at::Tensor& xClean, const at::Tensor& out, const PgdInitOptions& o,
             std::optional<at::Generator> gen);

// The δ of pgdInit alone (float64 on the CPU, shape `sizes`), the same draws from `gen` in the
// same order: for a caller that must draw before it runs the step (a CUDA graph replays no
// host code) and adds δ later. o.min/o.max are not used here.
at::Tensor pgdInitNoise(at::IntArrayRef sizes, const PgdInitOptions& o, std::optional<at::Generator> gen);

namespace detail {
void pgdStepCpu(const at::Tensor& xAdv, const at::Tensor& xClean, const at::Tensor& grad, const at::Tensor& out,
                const PgdStepOptions& o);
#ifdef HEXA_WITH_CUDA
void pgdStepCuda(const at::Tensor& xAdv, const at::Tensor& xClean, const at::Tensor& grad, const at::Tensor& out,
                 const PgdStepOptions& o);
#endif
}  // namespace detail

}  // namespace hexa::kernels
