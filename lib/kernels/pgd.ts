// PGD (projected gradient descent) attack kernels: the adversarial view of HEXA.
import { native } from '../native.js';
import { generatorHandle } from './args.js';
import { type Generator, handleOf, Tensor } from '../tensor.js';

/** The ball PGD stays in: per element (L∞) or per sample over all non-batch dims (L2). */
export type PgdNorm = 'linf' | 'l2';

export interface PgdStepOptions {
  /** Radius of the ball around xClean (>= 0; e.g. 8/255 for L∞ on [0, 1] images). */
  eps: number;
  /** Step length (>= 0): stepSize·sign(grad) for L∞, stepSize·grad/‖grad‖₂ for L2. */
  stepSize: number;
  /** Default 'linf'. */
  norm?: PgdNorm;
  /** Valid pixel range, applied last. Defaults 0 and 1. */
  min?: number;
  max?: number;
  /** Write here (contiguous, same shape/dtype/device as xAdv): the loop then allocates nothing. */
  out?: Tensor;
  /** Overwrite xAdv (default false). Not together with `out`. */
  inplace?: boolean;
}

/**
 * One PGD step in one pass over memory (per sample for L2):
 * - L∞: `clamp(clamp(xAdv + stepSize·sign(grad), xClean − eps, xClean + eps), min, max)`.
 * - L2: `x = xAdv + stepSize·grad / max(‖grad‖₂, 1e-12)` (the 1e-12 floor, as
 *   torch.nn.functional.normalize's, makes a zero gradient a zero step), then δ = x − xClean is
 *   scaled by `min(1, eps/‖δ‖₂)` (projection onto the L2 ball), then clamped to [min, max].
 *   Norms are per sample, over every dim but the first.
 *
 * xAdv, xClean, grad: same shape (rank >= 1, dim 0 = batch), float32/float64, same device.
 * Returns the result: a new Tensor, or `out`, or xAdv itself with `inplace: true`.
 */
export async function pgdStep(xAdv: Tensor, xClean: Tensor, grad: Tensor, options: PgdStepOptions): Promise<Tensor> {
  const { out, ...rest } = options ?? ({} as PgdStepOptions);
  const r = await native().pgdStep(handleOf(xAdv), handleOf(xClean), handleOf(grad), { ...rest, out: out && handleOf(out) });
  return r ? new Tensor(r) : (out ?? xAdv);
}

export interface PgdInitOptions {
  /** Radius of the ball (>= 0). */
  eps: number;
  /** Default 'linf'. */
  norm?: PgdNorm;
  /** Valid pixel range. Defaults 0 and 1. */
  min?: number;
  max?: number;
  /** The noise source (drawn on the CPU in float64: a seed gives the same start on every device). Default: the global generator. */
  generator?: Generator;
  /** Write here instead of a new tensor. */
  out?: Tensor;
}

/**
 * A uniform random start inside the ball around xClean, clamped to [min, max]:
 * - L∞: xClean + U(−eps, eps) per element.
 * - L2: xClean + eps·U^(1/d)·z/‖z‖₂ per sample, z ~ N(0, I_d), U ~ U(0, 1), d = elements per
 *   sample: uniform in the d-ball (uniform direction, radius density ∝ r^(d−1)). For large d
 *   almost every start lies near the sphere of radius eps, as a uniform ball sample must.
 * Clamping to [min, max] only moves elements toward xClean (when xClean is inside the
 * range), so the start stays in the ball.
 */
export async function pgdInit(xClean: Tensor, options: PgdInitOptions): Promise<Tensor> {
  const { out, generator, ...rest } = options ?? ({} as PgdInitOptions);
  const r = await native().pgdInit(handleOf(xClean), { ...rest, out: out && handleOf(out), generator: generatorHandle(generator) });
  return r ? new Tensor(r) : (out as Tensor);
}
