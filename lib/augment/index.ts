// Batched "aug-plus" augmentations on the tensor's device (MoCo v2): RandomResizedCrop,
// horizontal flip, ColorJitter, RandomGrayscale, GaussianBlur, with per-sample parameters
// from a seeded generator. Sampling and applying are separate so parameters can be injected.
import { native } from '../native.js';
import type { AugmentParamsHandles } from '../native-types.js';
import { Generator, handleOf, Tensor } from '../tensor.js';

export interface AugmentOptions {
  /** RandomResizedCrop area fraction range (default 0.2..1). */
  scaleMin?: number;
  scaleMax?: number;
  /** RandomResizedCrop aspect ratio range (default 3/4..4/3). */
  ratioMin?: number;
  ratioMax?: number;
  /** Horizontal flip probability (0.5). */
  flipP?: number;
  /** ColorJitter probability (0.8) and strengths (0.4, 0.4, 0.4, 0.1). */
  jitterP?: number;
  brightness?: number;
  contrast?: number;
  saturation?: number;
  hue?: number;
  /** RandomGrayscale probability (0.2). */
  grayscaleP?: number;
  /** GaussianBlur probability (0: MoCo v2 blurs at ImageNet size only, with 0.5) and sigma range (0.1..2). */
  blurP?: number;
  blurSigmaMin?: number;
  blurSigmaMax?: number;
}

/** Per-sample parameters (CPU tensors); see native/kernels/augment.h for their layout. */
export interface AugmentParams {
  crop: Tensor;
  flip: Tensor;
  jitter: Tensor;
  gray: Tensor;
  sigma: Tensor;
}

export async function sampleAugment(n: number, height: number, width: number, options: AugmentOptions = {}, generator?: Generator): Promise<AugmentParams> {
  const p = await native().sampleAugment(n, height, width, options as Record<string, number>, generator?.handle);
  return { crop: new Tensor(p.crop), flip: new Tensor(p.flip), jitter: new Tensor(p.jitter), gray: new Tensor(p.gray), sigma: new Tensor(p.sigma) };
}

/** images uint8 [n,3,H,W] (0..255) or float in [0,1] -> float [n,3,outH,outW] in [0,1]. */
export async function applyAugment(images: Tensor, params: AugmentParams, outHeight: number, outWidth: number): Promise<Tensor> {
  const p = params as unknown as Record<string, unknown>;
  const handles = Object.fromEntries(['crop', 'flip', 'jitter', 'gray', 'sigma'].map((k) => [k, handleOf(p?.[k])])) as unknown as AugmentParamsHandles;
  return new Tensor(await native().applyAugment(handleOf(images), handles, outHeight, outWidth));
}

/** Samples and applies in one call; the parameters are disposed. */
export async function augment(images: Tensor, outHeight: number, outWidth: number, options: AugmentOptions = {}, generator?: Generator): Promise<Tensor> {
  const [n, , h, w] = images.shape;
  const params = await sampleAugment(n, h, w, options, generator);
  try {
    return await applyAugment(images, params, outHeight, outWidth);
  } finally {
    Object.values(params).forEach((t) => t.dispose());
  }
}
