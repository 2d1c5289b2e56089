// InfoNCE (MoCo v2) as one fused native op: logits GEMM into one buffer, a fused row
// softmax/cross-entropy pass, and (when asked) the gradient w.r.t. q from the same buffer.
import { native } from '../native.js';
import { handleOf, Tensor } from '../tensor.js';
import { adoptOut } from './out.js';

export interface InfoNCEOptions {
  /** Softmax temperature τ, finite and > 0. Default 0.2 (MoCo v2). */
  temperature?: number;
  /**
   * Soft targets [N, N+K] (e.g. CutMix views: λ on column i, 1−λ on column perm[i]). With
   * them the logits are [q·kᵀ (all in-batch keys) | q·queueᵀ] / τ; without them
   * [q·k⁺ (row-wise) | q·queueᵀ] / τ with target column 0. Same dtype/device as q.
   */
  targets?: Tensor;
  /** Also compute the gradient of the loss w.r.t. q (k and the queue are constants). Default false. */
  grad?: boolean;
  /** Where to write gradQ ([N, C], q's dtype and device, contiguous); only with grad: true. */
  out?: Tensor;
}

export interface InfoNCEResult {
  /** The mean cross-entropy over rows, a 0-dim tensor. */
  loss: Tensor;
  /**
   * Fraction of rows whose largest logit is the target: column 0 (the positive) in the
   * default form, the row's largest target in the soft form. Ties go to the lowest column.
   */
  accuracy: number;
  /** d loss / d q, [N, C], when grad: true (the `out` tensor when one was given). */
  gradQ?: Tensor;
}

/**
 * InfoNCE loss of queries q [N, C] against their keys k [N, C] and a queue [K, C] of
 * negatives (rows are keys). All inputs must already be L2-normalised (they are not
 * renormalised). float32 or float64, CPU or CUDA, all on one device.
 *
 * Memory: one N×(K+1) (or N×(N+K)) buffer, reused for the backward.
 */
export async function infoNCE(q: Tensor, k: Tensor, queue: Tensor, options: InfoNCEOptions = {}): Promise<InfoNCEResult> {
  const { targets, out, ...rest } = options ?? {};
  const r = await native().infoNCE(handleOf(q), handleOf(k), handleOf(queue), {
    ...rest,
    targets: targets === undefined ? undefined : handleOf(targets),
    out: out === undefined ? undefined : handleOf(out),
  });
  return {
    loss: new Tensor(r.loss),
    accuracy: r.accuracy,
    ...(r.gradQ ? { gradQ: adoptOut(r.gradQ, out) } : {}),
  };
}
