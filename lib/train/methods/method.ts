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
  /** `hexa train --method <this>` with no other flags: sized for a 2-core CPU, ≤ 10 minutes. */
  preset: Record<string, unknown>;
}

/** The options every method's native trainer shares, from the shared config keys. */
export function commonOptions(c: TrainConfig, context: MethodContext): NativeTrainerOptions {
  return {
    arch: c.arch,
    width: c.width,
    cifarStem: c.cifarStem === 'auto' ? context.viewSize <= 64 : c.cifarStem,
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
