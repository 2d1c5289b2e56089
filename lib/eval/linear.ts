// The linear probe on frozen features (swav eval_linear.py / MoCo main_lincls.py, on cached
// features): a linear classifier trained natively with SGD + cosine, its learning rate and
// weight decay chosen on a class-stratified held-out part of the training split (never on the
// test split), then retrained on the whole training split with the chosen values.
import { native } from '../native.js';
import { handleOf, scope, tensor, Tensor } from '../tensor.js';
import { stratifiedSplit } from './subsets.js';

export interface LinearProbeOptions {
  /** Learning rates tried (on standardised features). */
  lrs?: number[];
  /** Weight decays tried. */
  weightDecays?: number[];
  epochs?: number;
  /** Epochs of each sweep run (they only rank the settings; the final run has `epochs`). */
  sweepEpochs?: number;
  batchSize?: number;
  momentum?: number;
  /** Fraction of the training split held out to choose lr and weight decay. */
  heldOut?: number;
  seed?: number;
}

export const LINEAR_PROBE_DEFAULTS: Required<LinearProbeOptions> = {
  lrs: [0.01, 0.1, 1],
  weightDecays: [0, 1e-4],
  epochs: 100,
  sweepEpochs: 25,
  batchSize: 256,
  momentum: 0.9,
  heldOut: 0.1,
  seed: 0,
};

export interface Accuracy {
  top1: number;
  /** Only where there are more than 5 classes. */
  top5?: number;
}

export interface LinearProbeResult extends Accuracy {
  lr: number;
  weightDecay: number;
  /** Top-1 on the held-out part of the training split, per (lr, weight decay) tried. */
  sweep: Array<{ lr: number; weightDecay: number; heldOutTop1: number }>;
}

export interface LinearClassifier {
  weight: Tensor;
  bias: Tensor;
}

/** Trains a linear classifier on features [N, D] with labels int64 [N] (see native/eval/linear_probe.h). */
export async function trainLinearClassifier(
  features: Tensor,
  labels: Tensor,
  options: { classes: number; epochs?: number; batchSize?: number; lr?: number; weightDecay?: number; momentum?: number; seed?: number },
): Promise<LinearClassifier> {
  const r = await native().trainLinearClassifier(handleOf(features), handleOf(labels), options);
  return { weight: new Tensor(r.weight), bias: new Tensor(r.bias) };
}

/** Top-1 (and top-5 where there are more than 5 classes) of features · weightᵀ + bias, in [0, 1]. */
export async function classifierAccuracy(features: Tensor, labels: Tensor, c: LinearClassifier): Promise<Accuracy> {
  const r = await native().classifierAccuracy(handleOf(features), handleOf(labels), handleOf(c.weight), handleOf(c.bias));
  const rows = Math.max(1, r.rows);
  return c.weight.shape[0] > 5 ? { top1: r.top1 / rows, top5: r.top5 / rows } : { top1: r.top1 / rows };
}

const rowsOf = (t: Tensor, idx: Uint32Array) => t.index(0, tensor(BigInt64Array.from(idx, (i) => BigInt(i)), [idx.length]));

/**
 * The linear probe: sweep (lr, weight decay) on a held-out part of the training split, then
 * train on all of it with the best pair and report test accuracy.
 */
export async function linearProbe(
  train: { features: Tensor; labels: Tensor },
  test: { features: Tensor; labels: Tensor },
  classes: number,
  options: LinearProbeOptions = {},
  onProgress?: (message: string) => void,
): Promise<LinearProbeResult> {
  const o = { ...LINEAR_PROBE_DEFAULTS, ...options };
  return scope(async () => {
    const labels = Array.from((await train.labels.data()) as BigInt64Array, Number);
    const { kept, held } = stratifiedSplit(labels, o.heldOut, o.seed);
    const fit = { features: await rowsOf(train.features, kept), labels: await rowsOf(train.labels, kept) };
    const val = { features: await rowsOf(train.features, held), labels: await rowsOf(train.labels, held) };
    const common = { classes, epochs: o.epochs, batchSize: o.batchSize, momentum: o.momentum, seed: o.seed };
    const sweep: LinearProbeResult['sweep'] = [];
    for (const lr of o.lrs) {
      for (const weightDecay of o.weightDecays) {
        const heldOutTop1 = await scope(async () => {
          const c = await trainLinearClassifier(fit.features, fit.labels, { ...common, epochs: o.sweepEpochs, lr, weightDecay });
          return (await classifierAccuracy(val.features, val.labels, c)).top1;
        });
        sweep.push({ lr, weightDecay, heldOutTop1 });
        onProgress?.(`lr ${lr} wd ${weightDecay}: held-out top-1 ${(100 * heldOutTop1).toFixed(2)}%`);
      }
    }
    // The best held-out top-1; ties go to the earlier (smaller) values.
    const best = sweep.reduce((a, b) => (b.heldOutTop1 > a.heldOutTop1 ? b : a));
    const c = await trainLinearClassifier(train.features, train.labels, { ...common, lr: best.lr, weightDecay: best.weightDecay });
    return { ...(await classifierAccuracy(test.features, test.labels, c)), lr: best.lr, weightDecay: best.weightDecay, sweep };
  });
}
