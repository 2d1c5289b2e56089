// Checks and device dispatch for the PGD kernels; pgdInit is built from ATen ops (it runs
// once per attack, not per step, and its noise must come from the CPU generator anyway).
#include "kernels/pgd.h"

#include <c10/util/accumulate.h>

#include <cmath>

#include "kernels/device_dispatch.h"

namespace hexa::kernels {

namespace {
void checkSameLayout(const at::Tensor& ref, const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.sizes() == ref.sizes(), "pgdStep: ", name, " must have shape ", ref.sizes(), ", got ", t.sizes());
  TORCH_CHECK(t.scalar_type() == ref.scalar_type(), "pgdStep: ", name, " must be ", ref.scalar_type(), ", got ",
              t.scalar_type());
  TORCH_CHECK(t.device() == ref.device(), "pgdStep: ", name, " must be on ", ref.device(), ", got ", t.device());
}
}  // namespace

void pgdStep(const at::Tensor& xAdv, const at::Tensor& xClean, const at::Tensor& grad, const at::Tensor& out,
             const PgdStepOptions& o) {
  HEXA_RECORD_KERNEL("hexa::pgdStep");
  TORCH_CHECK(xAdv.dim() >= 1, "pgdStep: xAdv must have a batch dimension");
  TORCH_CHECK(xAdv.scalar_type() == at::kFloat || xAdv.scalar_type() == at::kDouble,
              "pgdStep: xAdv must be float32 or float64");
  checkSameLayout(xAdv, xClean, "xClean");
  checkSameLayout(xAdv, grad, "grad");
  checkSameLayout(xAdv, out, "out");
  TORCH_CHECK(out.is_contiguous(), "pgdStep: out must be contiguous");
  TORCH_CHECK(std::isfinite(o.eps) && o.eps >= 0, "pgdStep: eps must be finite and >= 0");
  TORCH_CHECK(o.min <= o.max, "pgdStep: min must be <= max");
  if (xAdv.numel() == 0) return;
  // The kernels index flat memory; views with other strides are made contiguous (a copy).
  const at::Tensor a = xAdv.contiguous(), c = xClean.contiguous(), g = grad.contiguous();
  if (out.is_cpu()) return detail::pgdStepCpu(a, c, g, out, o);
#ifdef HEXA_WITH_CUDA
  if (out.is_cuda()) return detail::pgdStepCuda(a, c, g, out, o);
#endif
  detail::unsupportedDevice("pgdStep", out.device());
}

at::Tensor pgdInitNoise(at::IntArrayRef sizes, const PgdInitOptions& o, std::optional<at::Generator> gen) {
  TORCH_CHECK(!sizes.empty(), "pgdInitNoise: sizes must have a batch dimension");
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  // Nothing drawn for an empty batch (as pgdInit, which returns before drawing).
  if (c10::multiply_integers(sizes) == 0) return at::zeros(sizes, f64);
  if (o.norm == PgdNorm::Linf) return at::rand(sizes, gen, f64).mul_(2 * o.eps).sub_(o.eps);
  const int64_t n = sizes[0], numel = c10::multiply_integers(sizes), d = n == 0 ? 0 : numel / n;
  at::Tensor z = at::randn({n, d}, gen, f64);
  at::Tensor radius = at::rand({n, 1}, gen, f64).pow_(1.0 / static_cast<double>(d)).mul_(o.eps);
  // A zero z (probability 0) would give 0/0: the floor keeps it a zero step instead.
  return z.div_(z.norm(2, {1}, /*keepdim=*/true).clamp_min_(kPgdNormFloor)).mul_(radius).view(sizes);
}

void pgdInit(const at::Tensor& xClean, const at::Tensor& out, const PgdInitOptions& o,
             std::optional<at::Generator> gen) {
  HEXA_RECORD_KERNEL("hexa::pgdInit");
  TORCH_CHECK(xClean.dim() >= 1, "pgdInit: xClean must have a batch dimension");
  TORCH_CHECK(out.sizes() == xClean.sizes() && out.scalar_type() == xClean.scalar_type() &&
                  out.device() == xClean.device(),
              "pgdInit: out must match xClean's shape, dtype and device");
  if (xClean.numel() == 0) return;
  const at::Tensor delta = pgdInitNoise(xClean.sizes(), o, gen).to(xClean.device(), xClean.scalar_type());
  at::add_out(const_cast<at::Tensor&>(out), xClean, delta).clamp_(o.min, o.max);
}

}  // namespace hexa::kernels
