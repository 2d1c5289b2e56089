#include "kernels/augment.h"
#include "kernels/device_dispatch.h"

#include <cmath>

namespace hexa::kernels {

namespace {

// One uniform draw in [lo, hi) from the generator.
struct Draw {
  std::optional<at::Generator> gen;
  double uniform(double lo, double hi) {
    return lo + (hi - lo) * at::rand({1}, gen, at::TensorOptions().dtype(at::kDouble)).item<double>();
  }
  bool bernoulli(double p) { return p > 0 && uniform(0, 1) < p; }
};

at::Tensor Grayscale(const at::Tensor& x) {
  // ITU-R 601-2 luma, as torchvision's rgb_to_grayscale.
  auto w = at::tensor({0.299, 0.587, 0.114}, x.options()).view({1, 3, 1, 1});
  return (x * w).sum(1, /*keepdim=*/true);
}

at::Tensor Blend(const at::Tensor& a, const at::Tensor& b, const at::Tensor& ratio) {
  // ratio [n,1,1,1]: ratio * a + (1 - ratio) * b, clamped as torchvision's _blend.
  return (ratio * a + (1 - ratio) * b).clamp(0, 1);
}

// RGB -> HSV -> shift hue -> RGB, as torchvision's adjust_hue on float tensors.
at::Tensor AdjustHue(const at::Tensor& x, const at::Tensor& shift) {
  auto r = x.select(1, 0), g = x.select(1, 1), b = x.select(1, 2);
  auto maxc = std::get<0>(x.max(1)), minc = std::get<0>(x.min(1));
  auto eqc = maxc == minc;
  auto cr = maxc - minc;
  auto ones = at::ones_like(maxc);
  auto s = cr / at::where(eqc, ones, maxc);
  auto crDivisor = at::where(eqc, ones, cr);
  auto rc = (maxc - r) / crDivisor, gc = (maxc - g) / crDivisor, bc = (maxc - b) / crDivisor;
  auto hr = (maxc == r) * (bc - gc);
  auto hg = ((maxc == g) & (maxc != r)) * (2.0 + rc - bc);
  auto hb = ((maxc != g) & (maxc != r)) * (4.0 + gc - rc);
  auto h = at::fmod((hr + hg + hb) / 6.0 + 1.0, 1.0);
  h = at::fmod(h + shift.view({-1, 1, 1}) + 1.0, 1.0);
  auto v = maxc;
  auto h6 = h * 6.0;
  auto i = at::floor(h6);
  auto f = h6 - i;
  i = at::remainder(i, 6);
  auto p = (v * (1.0 - s)).clamp(0, 1), q = (v * (1.0 - s * f)).clamp(0, 1), t = (v * (1.0 - s * (1.0 - f))).clamp(0, 1);
  auto pick = [&](const at::Tensor& c0, const at::Tensor& c1, const at::Tensor& c2, const at::Tensor& c3, const at::Tensor& c4,
                  const at::Tensor& c5) {
    auto out = at::where(i == 0, c0, c1);
    out = at::where(i == 2, c2, out);
    out = at::where(i == 3, c3, out);
    out = at::where(i == 4, c4, out);
    return at::where(i == 5, c5, out);
  };
  return at::stack({pick(v, q, p, p, t, v), pick(t, v, v, q, p, p), pick(p, p, t, v, v, q)}, 1);
}

at::Tensor GaussianBlur(const at::Tensor& x, const at::Tensor& sigma) {
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  // Kernel size ~ 10% of the image side, odd (MoCo v2: 23 at 224).
  int64_t k = std::max<int64_t>(3, (std::min(h, w) / 10) | 1);
  auto sig = sigma.to(x.options()).clamp_min(1e-6).view({n, 1});
  auto offsets = at::arange(k, x.options()).sub_((k - 1) / 2.0).view({1, k});
  auto kernel = at::exp(-(offsets * offsets) / (2 * sig * sig));
  kernel = kernel / kernel.sum(1, true);  // [n, k]
  auto weights = kernel.repeat_interleave(c, 0);  // [n*c, k]
  auto flat = x.reshape({1, n * c, h, w});
  flat = at::reflection_pad2d(flat, {k / 2, k / 2, k / 2, k / 2});
  const at::Tensor noBias;
  const std::vector<int64_t> ones{1, 1}, zeros{0, 0};
  flat = at::conv2d(flat, weights.view({n * c, 1, k, 1}), noBias, ones, zeros, ones, n * c);
  flat = at::conv2d(flat, weights.view({n * c, 1, 1, k}), noBias, ones, zeros, ones, n * c);
  auto blurred = flat.view({n, c, h, w});
  return at::where((sigma.to(x.device()) > 0).view({n, 1, 1, 1}), blurred, x);
}

}  // namespace

AugmentParams SampleAugment(int64_t n, int64_t height, int64_t width, const AugmentOptions& o,
                            std::optional<at::Generator> generator) {
  HEXA_RECORD_KERNEL("hexa::SampleAugment");
  TORCH_CHECK(n >= 0 && height >= 1 && width >= 1, "sampleAugment: bad sizes");
  Draw d{generator};
  auto f64 = at::TensorOptions().dtype(at::kDouble);
  AugmentParams p{at::empty({n, 4}, f64), at::empty({n}, f64), at::empty({n, 4}, f64), at::empty({n}, f64), at::zeros({n}, f64)};
  auto crop = p.crop.accessor<double, 2>();
  auto jitter = p.jitter.accessor<double, 2>();
  const double area = static_cast<double>(height * width);
  const double logLo = std::log(o.ratioMin), logHi = std::log(o.ratioMax);
  for (int64_t i = 0; i < n; ++i) {
    // RandomResizedCrop.get_params: 10 tries, then a centre crop of the clamped ratio.
    bool found = false;
    for (int attempt = 0; attempt < 10 && !found; ++attempt) {
      const double target = area * d.uniform(o.scaleMin, o.scaleMax);
      const double ratio = std::exp(d.uniform(logLo, logHi));
      const double w = std::round(std::sqrt(target * ratio)), h = std::round(std::sqrt(target / ratio));
      if (w > 0 && h > 0 && w <= width && h <= height) {
        crop[i][0] = std::floor(d.uniform(0, height - h + 1));
        crop[i][1] = std::floor(d.uniform(0, width - w + 1));
        crop[i][2] = h;
        crop[i][3] = w;
        found = true;
      }
    }
    if (!found) {
      const double inRatio = static_cast<double>(width) / height;
      double w = width, h = height;
      if (inRatio < o.ratioMin) h = std::round(w / o.ratioMin);
      else if (inRatio > o.ratioMax) w = std::round(h * o.ratioMax);
      crop[i][0] = std::floor((height - h) / 2);
      crop[i][1] = std::floor((width - w) / 2);
      crop[i][2] = h;
      crop[i][3] = w;
    }
    p.flip[i] = d.bernoulli(o.flipP) ? 1.0 : 0.0;
    const bool jit = d.bernoulli(o.jitterP);
    jitter[i][0] = jit ? d.uniform(std::max(0.0, 1 - o.brightness), 1 + o.brightness) : 1.0;
    jitter[i][1] = jit ? d.uniform(std::max(0.0, 1 - o.contrast), 1 + o.contrast) : 1.0;
    jitter[i][2] = jit ? d.uniform(std::max(0.0, 1 - o.saturation), 1 + o.saturation) : 1.0;
    jitter[i][3] = jit ? d.uniform(-o.hue, o.hue) : 0.0;
    p.gray[i] = d.bernoulli(o.grayscaleP) ? 1.0 : 0.0;
    if (d.bernoulli(o.blurP)) p.sigma[i] = d.uniform(o.blurSigmaMin, o.blurSigmaMax);
  }
  return p;
}

at::Tensor ApplyAugment(const at::Tensor& images, const AugmentParams& p, int64_t outH, int64_t outW) {
  HEXA_RECORD_KERNEL("hexa::ApplyAugment");
  TORCH_CHECK(images.dim() == 4 && images.size(1) == 3, "augment: images must be [n, 3, H, W], got ", images.sizes());
  const int64_t n = images.size(0), H = images.size(2), W = images.size(3);
  TORCH_CHECK(p.crop.sizes() == at::IntArrayRef({n, 4}), "augment: crop must be [n, 4]");
  at::Tensor x = images.scalar_type() == at::kByte ? images.to(at::kFloat).div_(255) : images;
  TORCH_CHECK(at::isFloatingType(x.scalar_type()), "augment: images must be uint8 or floating");
  auto opts = x.options();
  // Crop + resize + flip as one affine grid sample (bilinear). The box (y0, x0, h, w) in
  // pixels maps to normalised [-1, 1] coordinates with align_corners=false.
  auto crop = p.crop.to(opts);
  auto y0 = crop.select(1, 0), x0 = crop.select(1, 1), h = crop.select(1, 2), w = crop.select(1, 3);
  auto cx = (x0 + w / 2) / W * 2 - 1, cy = (y0 + h / 2) / H * 2 - 1;
  auto sx = w / W * (1 - 2 * p.flip.to(opts)), sy = h / H;
  auto zero = at::zeros_like(cx);
  auto theta = at::stack({at::stack({sx, zero, cx}, 1), at::stack({zero, sy, cy}, 1)}, 1);  // [n, 2, 3]
  auto grid = at::affine_grid_generator(theta, {n, 3, outH, outW}, /*align_corners=*/false);
  x = at::grid_sampler(x, grid, /*bilinear*/ 0, /*border*/ 1, /*align_corners=*/false);
  // ColorJitter in torchvision's parameter order (brightness, contrast, saturation, hue);
  // identity factors leave a sample unchanged up to rounding, so no mask is needed but hue.
  auto jitter = p.jitter.to(opts);
  auto factor = [&](int j) { return jitter.select(1, j).view({n, 1, 1, 1}); };
  x = (x * factor(0)).clamp(0, 1);
  x = Blend(x, Grayscale(x).mean({1, 2, 3}, true), factor(1));
  x = Blend(x, Grayscale(x), factor(2));
  auto hueShift = jitter.select(1, 3);
  x = at::where((hueShift != 0).view({n, 1, 1, 1}), AdjustHue(x, hueShift), x);
  x = at::where((p.gray.to(x.device()) > 0).view({n, 1, 1, 1}), Grayscale(x).expand_as(x), x);
  if (p.sigma.gt(0).any().item<bool>()) x = GaussianBlur(x, p.sigma);
  return x.contiguous();
}

}  // namespace hexa::kernels
