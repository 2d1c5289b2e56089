// The `dcluster` config section: DeepCluster-v2's own settings (deepcluster-v2.md).
import { bool, num, numList, numPair, type Check } from '../config-checks.js';

export interface DClusterConfig {
  /**
   * Clusters K of each prototype head (swav ImageNet: 3×3000). A 0 is sized from the data:
   * min(3000, floor(N/15)) for N training images, so a cluster holds ~15 images or more on
   * average (solo-learn CIFAR: 50k/3000 ≈ 17). The default is 3 such heads.
   */
  prototypes: number[];
  /** Temperature τ of z·Pᵀ/τ (0.1). */
  temperature: number;
  /** k-means M-steps per epoch (10). */
  kmeansIterations: number;
  /** Hidden width of the projection head (Linear-BN-ReLU-Linear); 0 = the backbone's feature width. */
  headHidden: number;
  /** RandomResizedCrop area range of the two large crops (solo-learn CIFAR 0.08..1). */
  largeCropScale: number[];
  /** Multi-crop: how many small crops per image (swav 6; 0 = off). */
  smallCrops: number;
  /** Side of the small crops; 0 = 3/7 of the large crop (96/224, swav). */
  smallCropSize: number;
  /** RandomResizedCrop area range of the small crops (swav 0.05..0.14). */
  smallCropScale: number[];
  /** ColorJitter strength s: brightness, contrast, saturation s, hue s/4 (swav/solo-learn 0.8). */
  colorJitter: number;
  /** Fill the memory bank with a no-grad pass before epoch 0, so epoch 0 has targets (swav). */
  initPass: boolean;
}

export const DCLUSTER_DEFAULTS: DClusterConfig = {
  prototypes: [0, 0, 0],
  temperature: 0.1,
  kmeansIterations: 10,
  headHidden: 0,
  largeCropScale: [0.08, 1],
  smallCrops: 0,
  smallCropSize: 0,
  smallCropScale: [0.05, 0.14],
  colorJitter: 0.8,
  initPass: true,
};

export const DCLUSTER_CHECKS: Record<keyof DClusterConfig, Check> = {
  prototypes: numList(0, 1 << 24, true),
  temperature: num(1e-6, 1e6),
  kmeansIterations: num(0, 1000, true),
  headHidden: num(0, 65536, true),
  largeCropScale: numPair(1e-6, 1),
  smallCrops: num(0, 64, true),
  smallCropSize: num(0, 4096, true),
  smallCropScale: numPair(1e-6, 1),
  colorJitter: num(0, 10),
  initPass: bool,
};
