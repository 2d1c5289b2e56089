// Batched "aug-plus" augmentations (MoCo v2) with per-sample random parameters:
// RandomResizedCrop, horizontal flip, ColorJitter, RandomGrayscale, GaussianBlur.
// Sampling (CPU, from a generator) is separate from applying (any device, one composed pass
// of ATen ops), so tests and the differential trainer test can inject exact parameters.
#pragma once
#include <ATen/ATen.h>

#include <optional>

namespace hexa::kernels {

struct AugmentOptions {
  double scaleMin = 0.2, scaleMax = 1.0;            // RandomResizedCrop area fraction
  double ratioMin = 3.0 / 4.0, ratioMax = 4.0 / 3.0;  // and aspect ratio
  double flipP = 0.5;
  double jitterP = 0.8;
  double brightness = 0.4, contrast = 0.4, saturation = 0.4, hue = 0.1;
  double grayscaleP = 0.2;
  double blurP = 0.0;  // MoCo uses 0.5 at ImageNet size only
  double blurSigmaMin = 0.1, blurSigmaMax = 2.0;
};

// Per-sample parameters, all on the CPU, float64 unless noted:
//   crop [n,4]    (y0, x0, h, w) in pixels of the source image (a float box)
//   flip [n]      1 = mirror horizontally
//   jitter [n,4]  (brightness, contrast, saturation factors, hue shift); identity when not applied
//   gray [n]      1 = convert to grayscale
//   sigma [n]     Gaussian blur sigma in pixels of the output; 0 = no blur
struct AugmentParams {
  at::Tensor crop, flip, jitter, gray, sigma;
};

AugmentParams SampleAugment(int64_t n, int64_t height, int64_t width, const AugmentOptions& options,
                            std::optional<at::Generator> generator);

// images: uint8 [n, 3, H, W] or float [n, 3, H, W] in [0, 1]; returns float32 (or the input's
// float dtype) [n, 3, outH, outW] in [0, 1] on the images' device.
at::Tensor ApplyAugment(const at::Tensor& images, const AugmentParams& params, int64_t outHeight, int64_t outWidth);

}  // namespace hexa::kernels
