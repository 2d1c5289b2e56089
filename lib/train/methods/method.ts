// What a self-supervised method is to the run loop: the native trainer family and its
// options, the augmented views of a batch, how its metrics read on the progress line, and its
// embedded preset. One file per method family implements it (moco.ts, dcluster.ts).
import type { NativeTrainerOptions } from '../../native-types.js';
import type { Generator, Tensor } from '../../tensor.js';
import type { TrainConfig } from '../config.js';

export interface MethodContext {
  /** Side of the (large) training views. */
  viewSize: number;
  /** Training images (DeepCluster's memory bank has one row per image). */
  datasetSize: number;
}

export interface TrainMethod {
  family: 'moco' | 'dcluster';
  /** The native trainer's method-specific options (the common ones come from commonOptions). */
  nativeOptions(config: TrainConfig, context: MethodContext): NativeTrainerOptions;
  /**
   * The views of a batch: images float or uint8 [n, 3, H, W] on the training device, drawn
   * from the trainer's augmentation generator. `largeOnly`: only the large views (the bank pass).
   */
  views(images: Tensor, config: TrainConfig, context: MethodContext, generator: Generator, largeOnly?: boolean): Promise<Tensor[]>;
  /** `hexa train --method <this>` with no other flags: sized for a 2-core CPU, ≤ 10 minutes (the base method drops the hard-view keys). */
  preset: Record<string, unknown>;
}

/**
 * What every method's embedded preset shares: the first 10k CIFAR-10 training images, a
 * ResNet-18 at width 16, batch 64 and more weight decay than the long recipes (a short budget
 * learns faster with more, smaller steps), the mild hard views after a one-epoch warm start
 * (measured on HEXA_MoCo, docs/training.md), and the kNN comparison at the end.
 */
export const CPU_PRESET: Record<string, unknown> = {
  data: 'cifar10',
  trainSubset: 10000,
  arch: 'resnet18',
  width: 16,
  batchSize: 64,
  weightDecay: 5e-4,
  // Milder hard views than the 200-epoch defaults (ε 8/255, T 2, weights 1): at this budget
  // those left HEXA_MoCo below the untrained network (24.3% vs 27.9% kNN); one PGD step also
  // makes each iteration ~20% cheaper.
  adversarial: { eps: 4 / 255, stepSize: 2 / 255, steps: 1, randomStart: true, auxBN: false, weight: 0.5 },
  cutmix: { alpha: 1, weight: 0.5 },
  // The first epoch is the base method alone: hard views from the first step slow early
  // learning (HEXA_MoCo: +4.2 kNN points over the untrained network with them throughout,
  // +8.3 with this warm start).
  hardViewStartEpoch: 1,
  knnEvery: 0,
  knnSubset: 0,
  baselines: true,
};

/** The options every method's native trainer shares, from the shared config keys. */
export function commonOptions(c: TrainConfig, context: MethodContext): NativeTrainerOptions {
  return {
    arch: c.arch,
    width: c.width,
    cifarStem: c.cifarStem === 'auto' ? context.viewSize <= 64 : c.cifarStem,
    channelsLast: c.channelsLast,
    precision: c.precision,
    outDim: c.outDim,
    optimizer: c.optimizer,
    sgdMomentum: c.sgdMomentum,
    weightDecay: c.weightDecay,
    trustCoefficient: c.lars.trustCoefficient,
    larsClip: c.lars.clip,
    larsExcludeBiasAndNorm: c.lars.excludeBiasAndNorm,
    seed: c.seed,
    device: c.device,
    adversarial: c.adversarial ? { ...c.adversarial, enabled: true } : false,
    cutmix: c.cutmix ? { ...c.cutmix, enabled: true } : false,
  };
}
