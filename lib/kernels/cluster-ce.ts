// DeepCluster-v2's cross-entropy to cluster assignments for one head, sharing InfoNCE's
// fused row softmax/cross-entropy pass.
import { native } from '../native.js';
import { handleOf, Tensor } from '../tensor.js';
import { adoptOut } from './out.js';

export interface ClusterCEOptions {
  /** Softmax temperature τ, finite and > 0. Default 0.1 (DeepCluster-v2). */
  temperature?: number;
  /** Also compute the gradient w.r.t. z (the prototypes are frozen). Default false. */
  grad?: boolean;
  /** Where to write gradZ ([N, C], z's dtype and device, contiguous); only with grad: true. */
  out?: Tensor;
}

export interface ClusterCEResult {
  /** Mean cross-entropy over rows, a 0-dim tensor. */
  loss: Tensor;
  /** Fraction of rows whose largest logit is the target class (soft targets: the row's largest target). */
  accuracy: number;
  /** d loss / d z, [N, C], when grad: true. */
  gradZ?: Tensor;
}

/**
 * mean_i CE(z_i · Pᵀ / τ, target_i) for embeddings z [N, C] and prototypes P [K, C].
 * `targets` is either an int64 [N] tensor of cluster indices in [0, K) or a soft target
 * matrix [N, K] of z's dtype (CutMix). An index out of range rejects with a RangeError
 * (on CUDA after one sync: the kernel marks the row instead of asserting).
 */
export async function clusterCE(z: Tensor, prototypes: Tensor, targets: Tensor, options: ClusterCEOptions = {}): Promise<ClusterCEResult> {
  const { out, ...rest } = options ?? {};
  const r = await native().clusterCE(handleOf(z), handleOf(prototypes), handleOf(targets), {
    ...rest,
    out: out === undefined ? undefined : handleOf(out),
  });
  return {
    loss: new Tensor(r.loss),
    accuracy: r.accuracy,
    ...(r.gradZ ? { gradZ: adoptOut(r.gradZ, out) } : {}),
  };
}
