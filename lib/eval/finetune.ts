// Few-label fine-tuning (swav eval_semisup.py, scaled down): the whole network in train mode
// plus a new linear head, SGD with momentum 0.9 and no weight decay, the trunk and the head at
// their own learning rates, both x0.2 at 60% and 80% of the steps (swav: epochs 12 and 16 of
// 20). The loop runs natively in chunks (native/eval/backbone.h FineTune), so progress is
// reported and a stop request is honoured between chunks.
import { native } from '../native.js';
import { handleOf, scope, Tensor } from '../tensor.js';
import { handlesOf, nativeSpec, type Backbone } from './backbone.js';

export interface FineTuneOptions {
  classes: number;
  /** Optimizer steps in all. */
  steps: number;
  batchSize: number;
  /** Learning rates of the trunk and the new head (swavSemisupLrs). */
  lrTrunk: number;
  lrHead: number;
  weightDecay?: number;
  /** RandomResizedCrop's smallest area fraction (plus a horizontal flip). */
  scaleMin?: number;
  seed: number;
}

/**
 * swav's semi-supervised learning rates (eval_semisup.py, batch 256): trunk 0.02 with 1% of
 * the labels, 0.01 with 10%; head 0.2. swav's head rate for 1% (5) diverges at CIFAR scale
 * (measured on a width-16 ResNet-18, 20 images: the loss went 2.6 -> 45 in 8 steps), so the
 * 10% head rate is used for both. Not scaled down with the smaller batch: at a few hundred
 * steps the scaled rates barely move the trunk.
 */
export function swavSemisupLrs(fraction: number): { lrTrunk: number; lrHead: number } {
  return fraction <= 0.01 ? { lrTrunk: 0.02, lrHead: 0.2 } : { lrTrunk: 0.01, lrHead: 0.2 };
}

export interface FineTuned {
  /** Backbone (torchvision names) + fc.weight / fc.bias. Caller disposes. */
  state: Record<string, Tensor>;
  meanLoss: number;
}

const MILESTONES = [0.6, 0.8];

/**
 * Fine-tunes `backbone` on labelled uint8 images [N, C, H, W] (labels int64 [N]). Returns null
 * when `shouldStop` said so between chunks.
 */
export async function fineTune(
  backbone: Backbone,
  images: Tensor,
  labels: Tensor,
  o: FineTuneOptions,
  hooks: { onProgress?(step: number, steps: number, loss: number): void; shouldStop?(): boolean } = {},
): Promise<FineTuned | null> {
  const boundaries = new Set<number>([o.steps]);
  MILESTONES.forEach((m) => boundaries.add(Math.round(m * o.steps)));
  const chunk = Math.max(1, Math.ceil(o.steps / 10));
  for (let s = chunk; s < o.steps; s += chunk) boundaries.add(s);
  const ends = [...boundaries].filter((s) => s > 0).sort((a, b) => a - b);
  let state: Record<string, Tensor> = backbone.state;
  let owned = false;
  let lastLoss = NaN;
  try {
    let done = 0;
    for (const end of ends) {
      if (hooks.shouldStop?.()) return null;
      const decay = MILESTONES.filter((m) => done >= Math.round(m * o.steps)).length;
      const factor = 0.2 ** decay;
      const r = await scope(async () =>
        native().fineTune(handlesOf(state), handleOf(images), handleOf(labels), {
          ...nativeSpec(backbone.spec),
          classes: o.classes,
          steps: end - done,
          firstStep: done,
          batchSize: o.batchSize,
          lrTrunk: o.lrTrunk * factor,
          lrHead: o.lrHead * factor,
          weightDecay: o.weightDecay ?? 0,
          scaleMin: o.scaleMin ?? 0.2,
          seed: o.seed,
        }),
      );
      if (owned) Object.values(state).forEach((t) => t.dispose());
      state = Object.fromEntries(Object.entries(r.state).map(([k, h]) => [k, new Tensor(h)]));
      owned = true;
      done = end;
      lastLoss = r.meanLoss;
      hooks.onProgress?.(done, o.steps, r.meanLoss);
    }
    const out: Record<string, Tensor> = {};
    for (const [k, t] of Object.entries(state)) {
      if (k.startsWith('optimizer.')) t.dispose();
      else out[k] = t;
    }
    owned = false;
    return { state: out, meanLoss: lastLoss };
  } finally {
    if (owned) Object.values(state).forEach((t) => t.dispose());
  }
}
