// A backbone to evaluate: torchvision-named ResNet-18/50 weights (a hexa-torch run, its
// checkpoint, its exported backbone.safetensors, or any torchvision resnet18/50 state dict in
// safetensors), what architecture they are, and the input normalisation they expect.
import fs from 'node:fs';
import path from 'node:path';
import { BACKBONE_FORMAT, backboneMetadata, CIFAR_NORMALIZATION, savedNormalization, specOfState, trainedSpec, type BackboneSpec } from '../checkpoint/backbone-metadata.js';
import { loadSafetensors, saveSafetensors } from '../checkpoint/safetensors.js';
import { saveTorchStateDict } from '../checkpoint/torch-save.js';
import { native } from '../native.js';
import type { NativeBackboneSpec } from '../native-types.js';
import { handleOf, scope, tensor, Tensor } from '../tensor.js';
import { readCheckpointInfo, loadCheckpoint } from '../train/checkpoint.js';
import { familyOf, resolveConfig, type TrainConfig } from '../train/config.js';
import { openTrainSet } from '../train/run.js';
import { TrainerModel } from '../train/model.js';

export { CIFAR_NORMALIZATION, specOfState, type BackboneSpec };

/** torchvision's ImageNet normalisation: what a foreign torchvision file expects. */
export const IMAGENET_NORMALIZATION = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

export interface Backbone {
  spec: BackboneSpec;
  /** torchvision names -> tensors (fc.* ignored). The Backbone owns them: dispose() frees them. */
  state: Record<string, Tensor>;
  /** Where it came from, for reports. */
  source: string;
  /** The training config when it came from a hexa-torch run or checkpoint. */
  config?: TrainConfig;
  dispose(): void;
}

function backbone(spec: BackboneSpec, state: Record<string, Tensor>, source: string, config?: TrainConfig): Backbone {
  return { spec, state, source, config, dispose: () => Object.values(state).forEach((t) => t.dispose()) };
}

/** The native spec (normalisation as tensors; the caller disposes them through scope()). */
export function nativeSpec(spec: BackboneSpec): NativeBackboneSpec {
  return {
    arch: spec.arch,
    width: spec.width,
    cifarStem: spec.cifarStem,
    mean: handleOf(tensor(Float64Array.from(spec.mean), [3])),
    std: handleOf(tensor(Float64Array.from(spec.std), [3])),
  };
}

export const handlesOf = (state: Record<string, Tensor>) => Object.fromEntries(Object.entries(state).map(([k, t]) => [k, handleOf(t)]));

/** A hexa-torch trainer's backbone (its config decides the architecture). */
async function fromTrainer(model: TrainerModel, source: string): Promise<Backbone> {
  const state = await model.backboneState();
  return backbone(trainedSpec(state, source), state, source, model.config);
}

/** The checkpoint JSON of a run directory (checkpoints/last.json), a checkpoint JSON, or null. */
function checkpointOf(source: string): string | null {
  if (fs.existsSync(source) && fs.statSync(source).isDirectory()) {
    const last = path.join(source, 'checkpoints', 'last.json');
    return fs.existsSync(last) ? last : null;
  }
  return source.endsWith('.json') ? source : null;
}

/**
 * Loads the backbone to evaluate from a run directory (its last checkpoint, else its
 * backbone.safetensors), a checkpoint JSON, or a torchvision-named safetensors file.
 * `normalization` overrides the input mean/std (default: hexa-torch's CIFAR statistics for
 * hexa-torch files, torchvision's ImageNet ones for any other file).
 */
export async function loadBackbone(source: string, normalization?: { mean: number[]; std: number[] }): Promise<Backbone> {
  if (!fs.existsSync(source)) throw new Error(`loadBackbone: ${source} does not exist`);
  const ckpt = checkpointOf(source);
  let b: Backbone;
  if (ckpt) {
    const info = readCheckpointInfo(ckpt);
    const config = info.config;
    // The trainer's shapes must be the checkpoint's: DeepCluster's bank has a row per training image.
    const datasetSize = familyOf(config.method) === 'dcluster' ? (await openTrainSet(config)).size : 1;
    const model = await TrainerModel.create(config, { viewSize: config.imageSize || 32, datasetSize });
    try {
      await loadCheckpoint(ckpt, info, model);
      b = await fromTrainer(model, ckpt);
    } finally {
      model.dispose();
    }
  } else {
    const file = fs.statSync(source).isDirectory() ? path.join(source, 'backbone.safetensors') : source;
    if (!fs.existsSync(file)) throw new Error(`loadBackbone: ${source} has neither checkpoints/last.json nor backbone.safetensors`);
    const { tensors, metadata } = await loadSafetensors(file);
    const state: Record<string, Tensor> = {};
    for (const [k, t] of Object.entries(tensors)) {
      if (k.startsWith('fc.')) t.dispose();
      else state[k] = t;
    }
    let spec: BackboneSpec;
    try {
      const ours = metadata.format === BACKBONE_FORMAT;
      spec = { ...specOfState(state, file), ...(ours ? (savedNormalization(metadata) ?? CIFAR_NORMALIZATION) : IMAGENET_NORMALIZATION) };
    } catch (e) {
      Object.values(state).forEach((t) => t.dispose());
      throw e;
    }
    const configFile = path.join(path.dirname(file), 'config.json');
    let config: TrainConfig | undefined;
    if (metadata.format === BACKBONE_FORMAT && fs.existsSync(configFile)) {
      try {
        config = resolveConfig(JSON.parse(fs.readFileSync(configFile, 'utf8')));
      } catch {
        config = undefined; // a config of another version: the weights still evaluate
      }
    }
    b = backbone(spec, state, file, config);
  }
  if (normalization) b.spec = { ...b.spec, ...normalization };
  return b;
}

/** The same architecture with freshly initialised weights (torchvision's init), seeded: the "untrained" floor. */
export async function untrainedBackbone(spec: BackboneSpec, seed: number): Promise<Backbone> {
  const config = resolveConfig({ method: 'moco', arch: spec.arch, width: spec.width, cifarStem: spec.cifarStem, seed, moco: { queueSize: 1 } });
  const model = await TrainerModel.create(config, { viewSize: 32, datasetSize: 1 });
  try {
    const state = await model.backboneState();
    return backbone(spec, state, `untrained ${spec.arch} (seed ${seed})`);
  } finally {
    model.dispose();
  }
}

/** Pooled features [N, D] (float32, CPU) of uint8 images [N, C, H, W]; the network in eval mode. */
export async function backboneFeatures(b: Backbone, images: Tensor, batchSize = 256): Promise<Tensor> {
  return scope(async () => new Tensor(await native().backboneFeatures(handlesOf(b.state), handleOf(images), { ...nativeSpec(b.spec), batchSize })));
}

/**
 * Writes the backbone of `source` (as loadBackbone reads it) with torchvision's names as
 * `<prefix>.safetensors` and as a PyTorch state-dict file `<prefix>.pt` (torch.load(f,
 * weights_only=True) reads it; see docs/evaluation.md for loading it into torchvision).
 */
export async function exportTorchvision(source: string, prefix: string): Promise<{ safetensors: string; pt: string; spec: BackboneSpec }> {
  const b = await loadBackbone(source);
  try {
    const files = { safetensors: `${prefix}.safetensors`, pt: `${prefix}.pt` };
    const { spec } = b;
    if (path.resolve(files.safetensors) !== path.resolve(source)) await saveSafetensors(files.safetensors, b.state, backboneMetadata(spec));
    // torchvision's state_dict order: parameters and buffers as the modules define them.
    const names = Object.keys(b.state).sort(torchvisionOrder);
    await saveTorchStateDict(files.pt, Object.fromEntries(names.map((k) => [k, b.state[k]])));
    return { ...files, spec };
  } finally {
    b.dispose();
  }
}

/** conv1, bn1, layer1.0.conv1, ..., layer1.0.downsample.0, ...; within a BN: weight, bias, running_mean, running_var, num_batches_tracked. */
function torchvisionOrder(a: string, b: string): number {
  const key = (s: string) =>
    s.split('.').map((part) => {
      const within = ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked'].indexOf(part);
      if (within >= 0) return `~${within}`;
      return /^\d+$/.test(part) ? part.padStart(4, '0') : part.replace(/^(conv|bn)(\d)$/, (_, k: string, n: string) => `${n}${k === 'conv' ? 0 : 1}`);
    });
  const ka = key(a);
  const kb = key(b);
  for (let i = 0; i < Math.min(ka.length, kb.length); i++) if (ka[i] !== kb[i]) return ka[i] < kb[i] ? -1 : 1;
  return ka.length - kb.length;
}
