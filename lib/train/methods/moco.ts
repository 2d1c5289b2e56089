// MoCo-v2 and HEXA_MoCo: two "aug-plus" views (query, key) of every image; the native
// trainer (native/train/moco_trainer.h) does the rest.
import { applyAugment, sampleAugment } from '../../augment/index.js';
import { CPU_PRESET, type TrainMethod } from './method.js';

export const moco: TrainMethod = {
  family: 'moco',
  nativeOptions: (c) => ({ queueSize: c.moco.queueSize, temperature: c.moco.temperature, keyMomentum: c.moco.keyMomentum, shuffleBN: c.moco.shuffleBN, cudaGraph: c.cudaGraph }),
  async views(x, _config, { viewSize: s }, generator) {
    const [n, , h, w] = x.shape;
    const viewQ = await applyAugment(x, await sampleAugment(n, h, w, {}, generator), s, s);
    const viewK = await applyAugment(x, await sampleAugment(n, h, w, {}, generator), s, s);
    return [viewQ, viewK];
  },
  /**
   * HEXA_MoCo on the first 10k CIFAR-10 training images, sized to finish within 10 minutes on
   * a 2-core CPU (measured: see README), ending with the kNN comparison.
   */
  preset: {
    ...CPU_PRESET,
    epochs: 3,
    // A sharper temperature than the 200-epoch recipe's (measured on MoCo-v2, 2 epochs of 10k
    // images: kNN +6.4 points over the untrained network with τ 0.1, lr 0.12 and wd 5e-4,
    // +1.2 with the recipe's values).
    lr: 0.12,
    moco: { temperature: 0.1 },
    out: 'runs/hexa-default',
  },
};
