// DeepCluster's per-epoch clustering (native/train/clustering.h) on its own: spherical
// k-means with empty clusters re-seeded by splitting the largest one, and the normalised
// mutual information the trainer logs between two epochs' assignments.
import { native } from '../native.js';
import { Generator, handleOf, Tensor } from '../tensor.js';

export interface KmeansOptions {
  /** Clusters (1..N). */
  k: number;
  /** M-steps (10); one more E-step gives the final assignment. */
  iterations?: number;
  /** How far apart the two halves of a split cluster start (1e-4). */
  splitDelta?: number;
  /** Initial centroids [k, C] (default: k distinct random rows of x drawn from `generator`). */
  initial?: Tensor;
  generator?: Generator;
}

export interface KmeansResult {
  /** [k, C], unit rows. */
  centroids: Tensor;
  /** int64 [N]: the nearest centroid of each row. */
  assignment: Tensor;
  /** int64 [k]: rows per cluster (CPU). */
  counts: Tensor;
  /** Empty clusters that were re-seeded, over all iterations. */
  reseeded: number;
}

/** Spherical k-means on x [N, C] with unit rows (cosine similarity, mean direction centroids). */
export async function sphericalKmeans(x: Tensor, options: KmeansOptions): Promise<KmeansResult> {
  const { initial, generator, ...rest } = options;
  const r = await native().sphericalKmeans(handleOf(x), { ...rest, initial: initial && handleOf(initial), generator: generator?.handle });
  return { centroids: new Tensor(r.centroids), assignment: new Tensor(r.assignment), counts: new Tensor(r.counts), reseeded: r.reseeded };
}

/** NMI of two labelings (arithmetic normalisation, as sklearn's default): 1 = the same partition. */
export async function normalizedMutualInformation(a: Tensor, b: Tensor): Promise<number> {
  return native().normalizedMutualInformation(handleOf(a), handleOf(b));
}
