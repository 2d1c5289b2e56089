// The `moco` config section: MoCo-v2's own settings (hexa-method.md).
import { bool, num, type Check } from '../config-checks.js';

export interface MocoConfig {
  /** Keys in the dictionary K (4096..16384 on CIFAR). */
  queueSize: number;
  /** InfoNCE temperature τ (0.2). */
  temperature: number;
  /** Momentum m of the key encoder (CIFAR 0.99, ImageNet 0.999). */
  keyMomentum: number;
  /** Data-parallel runs: shuffle BN for the key encoder across ranks (MoCo's; on). */
  shuffleBN: boolean;
}

export const MOCO_DEFAULTS: MocoConfig = { queueSize: 4096, temperature: 0.2, keyMomentum: 0.99, shuffleBN: true };

export const MOCO_CHECKS: Record<keyof MocoConfig, Check> = {
  queueSize: num(1, 1 << 24, true),
  temperature: num(1e-6, 1e6),
  keyMomentum: num(0, 1),
  shuffleBN: bool,
};
