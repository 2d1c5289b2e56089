// CutMix: a box of the partner image perm[i] pasted into image i, and its soft targets.
import { native } from '../native.js';
import { generatorHandle } from './args.js';
import { type Generator, handleOf, Tensor } from '../tensor.js';

export interface CutmixSample {
  /** int64 [n, 4]: (y0, x0, y1, x1), half-open, inside the image. */
  boxes: Tensor;
  /** int64 [n]: a random permutation; the partner of sample i is perm[i]. */
  perm: Tensor;
  /** float64 [n]: the visible fraction of image i, exactly 1 − box area / (h·w). */
  lambda: Tensor;
}

export interface SampleCutmixOptions {
  /** Beta(alpha, alpha) for λ; > 0, default 1 (uniform). */
  alpha?: number;
  /** Random source (CPU). Default: the global generator. */
  generator?: Generator;
}

/**
 * Draws one CutMix batch layout on the CPU: per sample λ ~ Beta(alpha, alpha), box sides
 * cut = floor(side·sqrt(1 − λ)), centre cy ~ U{0..h−1}, cx ~ U{0..w−1}, box
 * [c − ⌊cut/2⌋, c + ⌊cut/2⌋) per axis (as the CutMix paper's rand_bbox) clipped to the image,
 * then λ recomputed from the clipped box. perm is a uniform random permutation.
 * The same generator state gives the same boxes, perm and lambda.
 */
export async function sampleCutmix(n: number, h: number, w: number, options: SampleCutmixOptions = {}): Promise<CutmixSample> {
  const r = await native().sampleCutmix(n, h, w, { alpha: options.alpha, generator: generatorHandle(options.generator) });
  return { boxes: new Tensor(r.boxes), perm: new Tensor(r.perm), lambda: new Tensor(r.lambda) };
}

export interface CutmixOptions {
  /** int64 [n], a permutation of 0..n−1 (checked: a bad one rejects the Promise with a RangeError). */
  perm: Tensor;
  /** int64 [n, 4] boxes (y0, x0, y1, x1) inside the h×w image, y0 <= y1, x0 <= x1 (checked likewise). */
  boxes: Tensor;
  /** Write here (contiguous, like x). */
  out?: Tensor;
  /**
   * Overwrite x (default false). Only the partners' box regions are first copied to a scratch
   * buffer and then pasted, so no box reads an already-overwritten partner and no other pixel
   * is touched.
   */
  inplace?: boolean;
}

/**
 * The mixed batch in one pass: inside box i, pixels of x[perm[i]]; elsewhere x[i].
 * x: [n, ..., h, w] (float32/float64/float16/bfloat16; the dims between batch and h, w are
 * channels). perm and boxes may be on the CPU (as sampleCutmix returns them) or on x's
 * device; their values are read on the host (a sync for CUDA index tensors).
 */
export async function cutmix(x: Tensor, options: CutmixOptions): Promise<Tensor> {
  const { perm, boxes, out, inplace } = options ?? ({} as CutmixOptions);
  const r = await native().cutmix(handleOf(x), { perm: handleOf(perm), boxes: handleOf(boxes), out: out && handleOf(out), inplace });
  return r ? new Tensor(r) : (out ?? x);
}

/**
 * Soft targets [n, numColumns] (lambda's dtype and device): λ_i on column i and 1 − λ_i on
 * column perm[i], or columns[i] / columns[perm[i]] when `columns` (int64 [n]) is given;
 * the two add up when they coincide, so every row sums to 1.
 */
export async function cutmixTargets(lambda: Tensor, perm: Tensor, numColumns: number, options: { columns?: Tensor } = {}): Promise<Tensor> {
  const columns = options.columns;
  return new Tensor(await native().cutmixTargets(handleOf(lambda), handleOf(perm), numColumns, { columns: columns && handleOf(columns) }));
}
