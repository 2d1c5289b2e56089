// What a torchvision-named backbone file says besides its tensors: `hexa train` writes one
// (<out>/backbone.safetensors), `hexa export` another; loadBackbone reads both. One writer of the
// metadata, one reader, so the two files cannot drift apart.
import type { Tensor } from '../tensor.js';
import type { Arch } from '../train/config.js';

export const BACKBONE_FORMAT = 'torchvision-resnet-backbone';

/** The input normalisation of hexa-torch's encoder (CIFAR-10 statistics, native/models/resnet.h). */
export const CIFAR_NORMALIZATION = { mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] };

export interface BackboneSpec {
  arch: Arch;
  /** Channels of the first stage (torchvision: 64). */
  width: number;
  /** 3x3 stride-1 stem without max-pool (CIFAR), else torchvision's 7x7 stride-2 + max-pool. */
  cifarStem: boolean;
  mean: number[];
  std: number[];
}

/** Architecture, width and stem of a torchvision-named ResNet state dict, from its tensors' shapes. */
export function specOfState(state: Record<string, Tensor>, file: string): Omit<BackboneSpec, 'mean' | 'std'> {
  const conv1 = state['conv1.weight'];
  if (!conv1 || conv1.shape.length !== 4 || conv1.shape[1] !== 3) {
    throw new Error(`${file} is not a torchvision ResNet backbone: it has no conv1.weight of shape [width, 3, k, k]`);
  }
  const arch: Arch = 'layer1.0.conv3.weight' in state ? 'resnet50' : 'resnet18';
  const k = conv1.shape[2];
  if (k !== 3 && k !== 7) throw new Error(`${file}: conv1.weight is ${k}x${k}; a ResNet stem is 7x7 (torchvision) or 3x3 (CIFAR)`);
  return { arch, width: conv1.shape[0], cifarStem: k === 3 };
}

/** The spec of a hexa-torch trainer's backbone: its shapes, and the encoder's CIFAR normalisation. */
export function trainedSpec(state: Record<string, Tensor>, file: string): BackboneSpec {
  return { ...specOfState(state, file), ...CIFAR_NORMALIZATION };
}

/** The safetensors metadata of a backbone file. */
export function backboneMetadata(spec: BackboneSpec): Record<string, string> {
  return {
    format: BACKBONE_FORMAT, arch: spec.arch, width: String(spec.width), cifarStem: String(spec.cifarStem),
    mean: spec.mean.join(','), std: spec.std.join(','),
  };
}

/** The mean/std a backbone file records (null: none, as in older files, or not 3 + 3 valid numbers). */
export function savedNormalization(metadata: Record<string, string>): { mean: number[]; std: number[] } | null {
  const parse = (v?: string) => (v ? v.split(',').map(Number) : []);
  const mean = parse(metadata.mean);
  const std = parse(metadata.std);
  const ok = mean.length === 3 && std.length === 3 && [...mean, ...std].every(Number.isFinite) && std.every((x) => x > 0);
  return ok ? { mean, std } : null;
}
