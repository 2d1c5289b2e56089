// HEXA_MoCo and MoCo-v2 training: one trainer for both (hard views on or off), built on the
// native trainer step (native/train/moco_trainer.h). This file orchestrates: data, the two
// augmented views, the learning-rate schedule, metrics, checkpoints, resume, the kNN monitor.
import fs from 'node:fs';
import path from 'node:path';
import { applyAugment, sampleAugment } from '../augment/index.js';
import { loadSafetensors, saveSafetensors, writeAtomic } from '../checkpoint/safetensors.js';
import { BatchLoader, loadCifar10, loadImageFolder, loadMnist, subset, type ImageDataset } from '../data/index.js';
import { datasetFeatures, knnAccuracy } from '../eval/knn.js';
import { native } from '../native.js';
import type { MocoTrainerHandle, NativeMocoOptions, StepMetrics } from '../native-types.js';
import { setNumThreads } from '../runtime.js';
import { cat, Generator, handleOf, keep, scope, tensor, Tensor } from '../tensor.js';
import type { TrainConfig } from './config.js';
import { cosineWithWarmup } from './schedule.js';

export interface StepLog extends StepMetrics {
  type: 'step';
  epoch: number;
  /** Step within the epoch, from 0. */
  epochStep: number;
  stepsPerEpoch: number;
  globalStep: number;
  totalSteps: number;
  imagesPerSecond: number;
  elapsedSeconds: number;
}

export interface EpochLog {
  type: 'epoch';
  epoch: number;
  globalStep: number;
  meanLoss: number;
  knnTop1?: number;
  elapsedSeconds: number;
}

export interface TrainHooks {
  onStep?(log: StepLog): void;
  onEpoch?(log: EpochLog): void;
  onMessage?(message: string): void;
  /** Checked after every step: true saves a checkpoint and stops. */
  stopRequested?(): boolean;
}

export interface TrainResult {
  stopped: boolean;
  epochsDone: number;
  globalStep: number;
  checkpoint: string | null;
  backbone: string | null;
  knnTop1?: number;
  wallSeconds: number;
}

/**
 * Opens the config's data source: 'cifar10', 'mnist:<folder>', or an image folder.
 * `firstImages` (0 = all) lets a source skip reading what a subset run never uses.
 */
export async function openDataset(spec: string, split: 'train' | 'test', imageSize = 0, firstImages = 0): Promise<ImageDataset | null> {
  if (spec === 'cifar10') return loadCifar10({ split, firstImages });
  if (spec.startsWith('mnist:')) {
    const dir = spec.slice('mnist:'.length);
    const prefix = split === 'train' ? 'train' : 't10k';
    const find = (stem: string) => [`${stem}`, `${stem}.gz`].map((f) => path.join(dir, f)).find((f) => fs.existsSync(f));
    const images = find(`${prefix}-images-idx3-ubyte`);
    const labels = find(`${prefix}-labels-idx1-ubyte`);
    if (!images) {
      if (split === 'test') return null;
      throw new Error(`data: no ${prefix}-images-idx3-ubyte[.gz] in ${dir}`);
    }
    return loadMnist({ images, labels });
  }
  if (split === 'test') return null; // an image folder has no test split
  // Folder images are decoded straight to the training size (default 64 px); cache up to 2 GiB.
  return loadImageFolder(spec, { size: imageSize || 64, cacheBytes: 2 ** 31 });
}

/** The native trainer's options for a config and image size. */
export function nativeOptions(c: TrainConfig, imageSize: number): NativeMocoOptions {
  return {
    arch: c.arch,
    width: c.width,
    cifarStem: c.cifarStem === 'auto' ? imageSize <= 64 : c.cifarStem,
    outDim: c.outDim,
    queueSize: c.queueSize,
    temperature: c.temperature,
    keyMomentum: c.keyMomentum,
    sgdMomentum: c.sgdMomentum,
    weightDecay: c.weightDecay,
    seed: c.seed,
    device: c.device,
    adversarial: c.adversarial ? { ...c.adversarial, enabled: true } : false,
    cutmix: c.cutmix ? { ...c.cutmix, enabled: true } : false,
  };
}

/** A MoCo/HEXA_MoCo model being trained: the native trainer plus the augmentation generator. */
export class MocoModel {
  private constructor(
    readonly config: TrainConfig,
    readonly viewSize: number,
    private handle: MocoTrainerHandle,
    readonly augmentGenerator: Generator,
  ) {}

  static async create(config: TrainConfig, viewSize: number): Promise<MocoModel> {
    const handle = await native().createMocoTrainer(nativeOptions(config, viewSize));
    return new MocoModel(config, viewSize, handle, new Generator(config.seed + 2));
  }

  /** uint8 [n, C, H, W] on the CPU -> on the device, 3 channels. */
  private async deviceImages(images: Tensor): Promise<Tensor> {
    const x = images.device === this.config.device ? images : await images.to({ device: this.config.device as 'cpu' });
    return x.shape[1] === 3 ? x : cat([x, x, x], 1);
  }

  /**
   * One training step on a batch of uint8 images (two augmented views, then the native step).
   * `hardViewScale` multiplies the hard-view weights; 0 makes it a MoCo-v2 step.
   */
  async step(images: Tensor, lr: number, hardViewScale = 1): Promise<StepMetrics> {
    return scope(async () => {
      const x = await this.deviceImages(images);
      const [n, , h, w] = x.shape;
      const s = this.viewSize;
      const viewQ = await applyAugment(x, await sampleAugment(n, h, w, {}, this.augmentGenerator), s, s);
      const viewK = await applyAugment(x, await sampleAugment(n, h, w, {}, this.augmentGenerator), s, s);
      return this.handle.step(viewQ.handle, viewK.handle, lr, { hardViewScale });
    });
  }

  /** The native step on views given as they are, with optional injected randomness (tests). */
  async stepViews(
    viewQ: Tensor,
    viewK: Tensor,
    lr: number,
    inject?: { pgdNoise?: Tensor; perm?: Tensor; boxes?: Tensor; hardViewScale?: number },
  ): Promise<StepMetrics> {
    const h = inject && Object.fromEntries(Object.entries(inject).map(([k, v]) => [k, typeof v === 'number' ? v : handleOf(v)]));
    return this.handle.step(handleOf(viewQ), handleOf(viewK), lr, h);
  }

  /** Backbone features of uint8 images (eval mode): float [n, D] on the CPU. */
  async embed(images: Tensor): Promise<Tensor> {
    return scope(async () => {
      const x = await (await this.deviceImages(images)).to('float32');
      const f = new Tensor(await this.handle.embed((await x.mul(1 / 255)).handle));
      return f.device === 'cpu' ? f : f.to('cpu');
    });
  }

  /** Every tensor of the training state (weights, optimizer, queue, generators). Caller disposes. */
  async state(): Promise<Record<string, Tensor>> {
    const raw = await this.handle.state();
    const out: Record<string, Tensor> = Object.fromEntries(Object.entries(raw).map(([k, h]) => [k, new Tensor(h)]));
    out.augment_generator_state = tensor(this.augmentGenerator.getState(), [this.augmentGenerator.getState().length]);
    return out;
  }

  async loadState(state: Record<string, Tensor>): Promise<void> {
    const { augment_generator_state: aug, ...rest } = state;
    if (!aug) throw new Error('checkpoint has no augment_generator_state');
    await this.handle.loadState(Object.fromEntries(Object.entries(rest).map(([k, t]) => [k, t.handle])));
    this.augmentGenerator.setState((await aug.data()) as Uint8Array);
  }

  dispose(): void {
    this.handle.dispose();
  }
}

// ---- checkpoints ---------------------------------------------------------------------------

export interface CheckpointInfo {
  format: 'hexa-torch/moco-checkpoint@1';
  /** The safetensors file beside this JSON holding every tensor of the state. */
  weights: string;
  /** Where training continues: the epoch and its step. */
  epoch: number;
  epochStep: number;
  globalStep: number;
  config: TrainConfig;
  /** Names inside `weights`: optimizer momentum buffers, the queue, RNG states. */
  optimizerPrefix: 'optimizer.';
  queue: 'queue';
  queuePointer: 'queue_ptr';
  rng: ['generator_state', 'augment_generator_state'];
  savedAt: string;
}

/** Saves the state atomically: the safetensors first, then the JSON that names it. */
export async function saveCheckpoint(dir: string, name: string, model: MocoModel, at: { epoch: number; epochStep: number; globalStep: number }): Promise<string> {
  const weights = `${name}-step${String(at.globalStep).padStart(8, '0')}.safetensors`;
  await scope(async () => {
    const state = await model.state();
    await saveSafetensors(path.join(dir, weights), state, { format: 'hexa-torch/moco-state@1' });
  });
  const info: CheckpointInfo = {
    format: 'hexa-torch/moco-checkpoint@1',
    weights,
    ...at,
    config: model.config,
    optimizerPrefix: 'optimizer.',
    queue: 'queue',
    queuePointer: 'queue_ptr',
    rng: ['generator_state', 'augment_generator_state'],
    savedAt: new Date().toISOString(),
  };
  const json = path.join(dir, `${name}.json`);
  await writeAtomic(json, [JSON.stringify(info, null, 2) + '\n']);
  pruneCheckpoints(dir);
  return json;
}

/** Deletes safetensors files no checkpoint JSON names any more. */
function pruneCheckpoints(dir: string): void {
  const files = fs.readdirSync(dir);
  const named = new Set(
    files.filter((f) => f.endsWith('.json')).map((f) => {
      try {
        return (JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as CheckpointInfo).weights;
      } catch {
        return '';
      }
    }),
  );
  for (const f of files) if (f.endsWith('.safetensors') && !named.has(f)) fs.rmSync(path.join(dir, f), { force: true });
}

export function readCheckpointInfo(file: string): CheckpointInfo {
  let info: CheckpointInfo;
  try {
    info = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read checkpoint ${file}: ${(e as Error).message}`);
  }
  if (info.format !== 'hexa-torch/moco-checkpoint@1') throw new Error(`${file} is not a hexa-torch MoCo checkpoint`);
  return info;
}

/** Writes the query backbone with torchvision's names (loads into torchvision.models.resnet*, strict=False for fc). */
export async function exportBackbone(model: MocoModel, file: string): Promise<void> {
  await scope(async () => {
    const state = await model.state();
    const backbone = Object.fromEntries(
      Object.entries(state)
        .filter(([k]) => k.startsWith('query.backbone.') && !/\.aux_/.test(k))
        .map(([k, t]) => [k.slice('query.backbone.'.length), t]),
    );
    await saveSafetensors(file, backbone, { format: 'torchvision-resnet-backbone', arch: model.config.arch, width: String(model.config.width) });
  });
}

// ---- the run -------------------------------------------------------------------------------

/** kNN top-1 of `embed` features: bank = training images, queries = test images. */
export async function knnTop1(
  embed: (images: Tensor) => Promise<Tensor>,
  train: ImageDataset,
  test: ImageDataset,
  config: Pick<TrainConfig, 'knnK' | 'knnTemperature' | 'knnSubset'>,
): Promise<number> {
  return scope(async () => {
    const bank = await datasetFeatures(train, embed);
    const queries = await datasetFeatures(test, embed, { count: config.knnSubset });
    const classes = train.classes?.length ?? 1 + Math.max(...Array.from((await bank.labels.data()) as BigInt64Array, Number));
    return knnAccuracy(bank.features, bank.labels, queries.features, queries.labels, classes, { k: config.knnK, temperature: config.knnTemperature });
  });
}

export async function train(config: TrainConfig, hooks: TrainHooks = {}): Promise<TrainResult> {
  const t0 = performance.now();
  const say = (m: string) => hooks.onMessage?.(m);
  if (config.threads) setNumThreads(config.threads);
  const ckptDir = path.join(config.out, 'checkpoints');
  let resumeFrom: CheckpointInfo | null = null;
  let resumeFile: string | null = null;
  if (config.resume) {
    resumeFile = typeof config.resume === 'string' ? config.resume : path.join(ckptDir, 'last.json');
    if (!fs.existsSync(resumeFile)) throw new Error(`--resume: no checkpoint at ${resumeFile}`);
    resumeFrom = readCheckpointInfo(resumeFile);
    // The saved run's config decides everything that shapes the model and the data order;
    // only how long and where to run may change.
    const { epochs, device, threads, logEvery, knnEvery, out } = config;
    config = { ...resumeFrom.config, epochs, device, threads, logEvery, knnEvery, out, resume: config.resume };
  }
  let trainSet = await openDataset(config.data, 'train', config.imageSize, config.trainSubset);
  if (!trainSet) throw new Error(`data: ${config.data} has no training images`);
  if (config.trainSubset) trainSet = subset(trainSet, config.trainSubset);
  if (trainSet.size < config.batchSize) {
    throw new Error(`batchSize ${config.batchSize} is larger than the ${trainSet.size} training images of ${trainSet.name}`);
  }
  const testSet = trainSet.classes && config.knnEvery >= 0 ? await openDataset(config.data, 'test') : null;
  const viewSize = config.imageSize || trainSet.height;
  const loader = new BatchLoader(trainSet, { batchSize: config.batchSize, seed: config.seed >>> 0, dropLast: true, prefetch: 2 });
  const stepsPerEpoch = loader.stepsPerEpoch;
  const totalSteps = Math.max(1, stepsPerEpoch * config.epochs);
  const baseLr = (config.lr * config.batchSize) / 256;
  const model = await MocoModel.create(config, viewSize);
  fs.mkdirSync(config.out, { recursive: true });
  const metricsFile = path.join(config.out, 'metrics.jsonl');
  let epoch = 0;
  let epochStep = 0;
  if (resumeFrom && resumeFile) {
    const { tensors } = await loadSafetensors(path.join(path.dirname(resumeFile), resumeFrom.weights));
    try {
      await model.loadState(tensors);
    } finally {
      Object.values(tensors).forEach((t) => t.dispose());
    }
    epoch = resumeFrom.epoch;
    epochStep = resumeFrom.epochStep;
    say(`resumed from ${resumeFile} at epoch ${epoch + 1}, step ${epochStep}`);
  } else {
    fs.writeFileSync(path.join(config.out, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  }
  const log = fs.createWriteStream(metricsFile, { flags: 'a' });
  let stopped = false;
  let lastCheckpoint: string | null = null;
  let knn: number | undefined;
  let imagesSeen = 0;
  const tRun = performance.now();
  try {
    for (; epoch < config.epochs && !stopped; epoch++, epochStep = 0) {
      let lossSum = 0;
      let lossCount = 0;
      for await (const batch of loader.tensors(epoch, { startStep: epochStep })) {
        const globalStep = epoch * stepsPerEpoch + batch.step;
        const lr = cosineWithWarmup(globalStep, totalSteps, baseLr, config.warmupEpochs * stepsPerEpoch);
        const m = await model.step(batch.images, lr, epoch >= config.hardViewStartEpoch ? 1 : 0);
        imagesSeen += batch.images.shape[0];
        lossSum += m.loss;
        lossCount++;
        const elapsed = (performance.now() - tRun) / 1000;
        const entry: StepLog = {
          type: 'step',
          ...m,
          epoch,
          epochStep: batch.step,
          stepsPerEpoch,
          globalStep,
          totalSteps,
          imagesPerSecond: imagesSeen / elapsed,
          elapsedSeconds: elapsed,
        };
        log.write(JSON.stringify(entry) + '\n');
        hooks.onStep?.(entry);
        if (!Number.isFinite(m.loss)) throw new Error(`the loss became ${m.loss} at epoch ${epoch + 1} step ${batch.step}: lower lr`);
        if (hooks.stopRequested?.() && batch.step + 1 < stepsPerEpoch) {
          lastCheckpoint = await saveCheckpoint(ckptDir, 'last', model, { epoch, epochStep: batch.step + 1, globalStep: globalStep + 1 });
          say(`stopped; checkpoint ${lastCheckpoint} (resume with --resume)`);
          stopped = true;
          break;
        }
      }
      if (stopped) break;
      const done = { epoch: epoch + 1, epochStep: 0, globalStep: (epoch + 1) * stepsPerEpoch };
      lastCheckpoint = await saveCheckpoint(ckptDir, 'last', model, done);
      if ((epoch + 1) % config.saveEvery === 0) await saveCheckpoint(ckptDir, `epoch-${String(epoch + 1).padStart(4, '0')}`, model, done);
      const wantKnn = testSet && config.knnEvery > 0 && (epoch + 1) % config.knnEvery === 0;
      if (wantKnn) knn = await knnTop1((x) => model.embed(x), trainSet, testSet!, config);
      const e: EpochLog = { type: 'epoch', epoch, globalStep: done.globalStep, meanLoss: lossSum / Math.max(1, lossCount), knnTop1: wantKnn ? knn : undefined, elapsedSeconds: (performance.now() - tRun) / 1000 };
      log.write(JSON.stringify(e) + '\n');
      hooks.onEpoch?.(e);
      if (hooks.stopRequested?.()) {
        stopped = epoch + 1 < config.epochs;
        if (stopped) say(`stopped; checkpoint ${lastCheckpoint} (resume with --resume)`);
        epoch++;
        break;
      }
    }
    const backbone = path.join(config.out, 'backbone.safetensors');
    await exportBackbone(model, backbone);
    if (!stopped && testSet && config.knnEvery === 0) knn = await knnTop1((x) => model.embed(x), trainSet, testSet, config);
    return { stopped, epochsDone: epoch, globalStep: epoch * stepsPerEpoch, checkpoint: lastCheckpoint, backbone, knnTop1: knn, wallSeconds: (performance.now() - t0) / 1000 };
  } finally {
    await new Promise((r) => log.end(r));
    loader.close();
    model.dispose();
  }
}
