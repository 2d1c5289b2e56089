// Spherical k-means steps for DeepCluster-v2: chunked assignment (never materialises N×K)
// and the centroid update.
import { native } from '../native.js';
import { handleOf, Tensor } from '../tensor.js';
import { adoptOut } from './out.js';

export interface KmeansAssignOptions {
  /**
   * Rows of x per GEMM chunk (integer >= 1). Default: as many as keep one chunk's [rows, K]
   * score buffer within 64 MiB. The result does not depend on it.
   */
  chunkSize?: number;
  /** Where to write the result: index int64 [N] and score [N] (x's dtype), x's device, contiguous. */
  out?: { index: Tensor; score: Tensor };
}

export interface KmeansAssignResult {
  /** argmax_k x_i · c_k, int64 [N]; ties go to the lowest k. */
  index: Tensor;
  /** The winning dot product x_i · c_index[i], [N]. */
  score: Tensor;
}

/**
 * Assigns each row of x [N, C] to its most similar centroid [K, C] by dot product (cosine
 * for L2-normalised rows, which the caller provides). float32/float64, CPU or CUDA.
 */
export async function kmeansAssign(x: Tensor, centroids: Tensor, options: KmeansAssignOptions = {}): Promise<KmeansAssignResult> {
  const { out, ...rest } = options ?? {};
  const outHandles =
    out && typeof out === 'object' ? { index: handleOf(out.index), score: handleOf(out.score) } : (out as unknown);
  const r = await native().kmeansAssign(handleOf(x), handleOf(centroids), { ...rest, out: outHandles as never });
  return { index: adoptOut(r.index, out?.index), score: adoptOut(r.score, out?.score) };
}

export interface KmeansUpdateOptions {
  /** Required: the current centroids [k, C]; an empty cluster keeps its row. */
  previous: Tensor;
  /** Where to write the new centroids ([k, C], contiguous); may be `previous` itself. */
  out?: Tensor;
}

export interface KmeansUpdateResult {
  /** New centroids [k, C]: each cluster's member sum at unit L2 norm, or `previous`'s row when empty. */
  centroids: Tensor;
  /** Members per cluster, int64 [k]. */
  counts: Tensor;
}

/**
 * One k-means update: new centroids from rows x [N, C] and their assignment (int64 [N],
 * values in [0, k); out of range rejects with a RangeError, on CUDA after one sync: the
 * kernel counts them instead of asserting). Every assignment is checked as it is read, so
 * another op writing `assignment` meanwhile cannot make the update index out of bounds. CPU: race-free (clusters partitioned by a counting sort), deterministic. CUDA:
 * atomicAdd scatter, whose float summation order may vary between runs.
 */
export async function kmeansUpdateCentroids(x: Tensor, assignment: Tensor, k: number, options: KmeansUpdateOptions): Promise<KmeansUpdateResult> {
  const { previous, out } = (options ?? {}) as Partial<KmeansUpdateOptions>;
  const r = await native().kmeansUpdateCentroids(handleOf(x), handleOf(assignment), k, {
    previous: previous === undefined ? undefined : handleOf(previous),
    out: out === undefined ? undefined : handleOf(out),
  } as never);
  return { centroids: adoptOut(r.centroids, out), counts: new Tensor(r.counts) };
}
