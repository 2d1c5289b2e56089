// The kNN monitor (k = 200, cosine similarity, votes weighted by exp(sim / τ), τ = 0.1) on
// frozen features: the cheap score self-supervised training reports every epoch.
import type { ImageDataset } from '../data/index.js';
import { native } from '../native.js';
import { cat, handleOf, scope, tensor, Tensor } from '../tensor.js';

export interface KnnOptions {
  k?: number;
  temperature?: number;
  /** Query rows per similarity block. */
  chunk?: number;
}

/** Predicted class per query (int64 [N]). Features need not be normalised. */
export async function knnPredict(bank: Tensor, bankLabels: Tensor, queries: Tensor, classes: number, options: KnnOptions = {}): Promise<Tensor> {
  return new Tensor(await native().knnPredict(handleOf(bank), handleOf(bankLabels), handleOf(queries), { ...options, classes }));
}

/** Top-1 accuracy of the kNN classifier, in [0, 1]. */
export async function knnAccuracy(bank: Tensor, bankLabels: Tensor, queries: Tensor, queryLabels: Tensor, classes: number, options: KnnOptions = {}): Promise<number> {
  return scope(async () => {
    const pred = await knnPredict(bank, bankLabels, queries, classes, options);
    const p = (await pred.data()) as BigInt64Array;
    const l = await queryLabels.data();
    let hits = 0;
    for (let i = 0; i < p.length; i++) if (Number(p[i]) === Number(l[i])) hits++;
    return hits / p.length;
  });
}

/**
 * Features of the first `count` images of a dataset (all when count is 0), computed by
 * `embed` on uint8 batches [n, C, H, W]; returns features [N, D] and labels int64 [N].
 */
export async function datasetFeatures(
  dataset: ImageDataset,
  embed: (images: Tensor) => Promise<Tensor>,
  options: { count?: number; batchSize?: number } = {},
): Promise<{ features: Tensor; labels: Tensor }> {
  const n = options.count ? Math.min(options.count, dataset.size) : dataset.size;
  const batchSize = options.batchSize ?? 500;
  const parts: Tensor[] = [];
  const labels = new BigInt64Array(n);
  try {
    for (let start = 0; start < n; start += batchSize) {
      const idx = Array.from({ length: Math.min(batchSize, n - start) }, (_, i) => start + i);
      const b = await dataset.batch(idx);
      b.labels.forEach((v, i) => (labels[start + i] = BigInt(v)));
      parts.push(await scope(async () => embed(tensor(b.images, b.shape))));
    }
    const features = await cat(parts, 0);
    return { features, labels: tensor(labels, [n]) };
  } finally {
    parts.forEach((t) => t.dispose());
  }
}

/** Raw pixels as features (the floor any learned representation should beat). */
export async function pixelFeatures(images: Tensor): Promise<Tensor> {
  return scope(async () => (await images.to('float32')).reshape([images.shape[0], -1]));
}
