// The training run of every method: data, the learning-rate schedule, the method's passes
// (DeepCluster's bank pass before epoch 0 and k-means at each epoch's start), metrics,
// checkpoints, resume, the kNN monitor. The method itself is in methods/ and native/train/.
import fs from 'node:fs';
import path from 'node:path';
import { BatchLoader, openDataset, subset, type ImageDataset } from '../data/index.js';
import { datasetFeatures, knnAccuracy } from '../eval/knn.js';
import { setNumThreads } from '../runtime.js';
import { scope, Tensor } from '../tensor.js';
import { RESUME_OVERRIDABLE, type TrainConfig } from './config.js';
import { exportBackbone, loadCheckpoint, readCheckpointInfo, saveCheckpoint, type CheckpointInfo } from './checkpoint.js';
import { initBackbone } from './init.js';
import { TrainerModel, type Metrics } from './model.js';
import { cosineWithWarmup } from './schedule.js';
import { acquireRunLock } from './run-lock.js';

/** One line of metrics.jsonl per step: the method's metrics (loss, accuracy, lr, ...) and where the run is. */
export interface StepLog {
  [metric: string]: number | string;
  type: 'step';
  loss: number;
  accuracy: number;
  lr: number;
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
  /** What the method did at the epoch's start (DeepCluster: k-means statistics per head). */
  setup?: Metrics;
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

/** The training images of a config (its subset applied). */
export async function openTrainSet(config: TrainConfig): Promise<ImageDataset> {
  let trainSet = await openDataset(config.data, 'train', config.imageSize, config.trainSubset);
  if (!trainSet) throw new Error(`data: ${config.data} has no training images`);
  if (config.trainSubset) trainSet = subset(trainSet, config.trainSubset);
  return trainSet;
}

/** The checkpoint `config.resume` names, or null when not resuming. */
export function resumeCheckpoint(config: TrainConfig): { file: string; info: CheckpointInfo } | null {
  if (!config.resume) return null;
  const file = typeof config.resume === 'string' ? config.resume : path.join(config.out, 'checkpoints', 'last.json');
  if (!fs.existsSync(file)) throw new Error(`--resume: no checkpoint at ${file}`);
  return { file, info: readCheckpointInfo(file) };
}

/**
 * A resumed run's config: the checkpoint's, with only what may safely change taken from
 * `given` (how long, where and how fast it runs; RESUME_OVERRIDABLE).
 */
export function resumedConfig(saved: TrainConfig, given: Partial<TrainConfig>): TrainConfig {
  const out = { ...saved } as Record<string, unknown>;
  for (const k of RESUME_OVERRIDABLE) if (given[k] !== undefined) out[k] = given[k];
  return out as unknown as TrainConfig;
}

export async function train(config: TrainConfig, hooks: TrainHooks = {}): Promise<TrainResult> {
  const t0 = performance.now();
  const say = (m: string) => hooks.onMessage?.(m);
  if (config.threads) setNumThreads(config.threads);
  const ckptDir = path.join(config.out, 'checkpoints');
  const resume = resumeCheckpoint(config);
  // The saved run's config decides everything that shapes the model and the data order.
  if (resume) config = resumedConfig(resume.info.config, config);
  fs.mkdirSync(config.out, { recursive: true });
  const releaseLock = acquireRunLock(config.out);
  let model: TrainerModel | null = null;
  let loader: BatchLoader | null = null;
  let log: fs.WriteStream | null = null;
  try {
    const trainSet = await openTrainSet(config);
    if (trainSet.size < config.batchSize) {
      throw new Error(`batchSize ${config.batchSize} is larger than the ${trainSet.size} training images of ${trainSet.name}`);
    }
    const testSet = trainSet.classes && config.knnEvery >= 0 ? await openDataset(config.data, 'test') : null;
    const context = { viewSize: config.imageSize || trainSet.height, datasetSize: trainSet.size };
    loader = new BatchLoader(trainSet, { batchSize: config.batchSize, seed: config.seed >>> 0, dropLast: true, prefetch: 2 });
    const stepsPerEpoch = loader.stepsPerEpoch;
    const totalSteps = Math.max(1, stepsPerEpoch * config.epochs);
    const baseLr = (config.lr * config.batchSize) / 256;
    model = await TrainerModel.create(config, context);
    let epoch = 0;
    let epochStep = 0;
    if (resume) {
      await loadCheckpoint(resume.file, resume.info, model);
      epoch = resume.info.epoch;
      epochStep = resume.info.epochStep;
      say(`resumed from ${resume.file} at epoch ${epoch + 1}, step ${epochStep}`);
    } else {
      fs.writeFileSync(path.join(config.out, 'config.json'), JSON.stringify(config, null, 2) + '\n');
      if (config.init) say(`initialised the backbone from ${await initBackbone(model, config.init)}`);
      if (model.wantsInitPass && config.epochs > 0) {
        // DeepCluster: every image's embedding in the bank before the first clustering.
        say(`filling the memory bank (${trainSet.size} images)`);
        const bankLoader = new BatchLoader(trainSet, { batchSize: config.batchSize, seed: config.seed >>> 0, dropLast: false, prefetch: 2, shuffle: false });
        try {
          for await (const batch of bankLoader.tensors(0)) await model.observe(batch.images, batch.indices);
        } finally {
          bankLoader.close();
        }
      }
    }
    log = fs.createWriteStream(path.join(config.out, 'metrics.jsonl'), { flags: 'a' });
    let stopped = false;
    let lastCheckpoint: string | null = null;
    let knn: number | undefined;
    let imagesSeen = 0;
    const tRun = performance.now();
    for (; epoch < config.epochs && !stopped; epoch++, epochStep = 0) {
      let lossSum = 0;
      let lossCount = 0;
      // A run resumed mid-epoch already has this epoch's set-up (assignments) in its state.
      const setup = epochStep === 0 ? await model.beginEpoch(epoch) : undefined;
      if (setup && Object.keys(setup).length) log.write(JSON.stringify({ type: 'epoch-setup', epoch, ...setup }) + '\n');
      for await (const batch of loader.tensors(epoch, { startStep: epochStep })) {
        const globalStep = epoch * stepsPerEpoch + batch.step;
        const lr = cosineWithWarmup(globalStep, totalSteps, baseLr, config.warmupEpochs * stepsPerEpoch, config.finalLr);
        const m = await model.step(batch.images, batch.indices, lr, epoch >= config.hardViewStartEpoch ? 1 : 0);
        imagesSeen += batch.images.shape[0];
        lossSum += m.loss;
        lossCount++;
        const elapsed = (performance.now() - tRun) / 1000;
        // Every trainer reports loss, accuracy and lr (native/train/trainer.h).
        const entry = {
          type: 'step',
          ...m,
          epoch,
          epochStep: batch.step,
          stepsPerEpoch,
          globalStep,
          totalSteps,
          imagesPerSecond: imagesSeen / elapsed,
          elapsedSeconds: elapsed,
        } as StepLog;
        log.write(JSON.stringify(entry) + '\n');
        hooks.onStep?.(entry);
        if (!Number.isFinite(m.loss)) {
          const origin = resume && globalStep === resume.info.globalStep ? ` (the first step after loading ${resume.file}: check that checkpoint)` : ': lower lr';
          throw new Error(`the loss became ${m.loss} at epoch ${epoch + 1} step ${batch.step}${origin}`);
        }
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
      const m = model;
      if (wantKnn) knn = await knnTop1((x) => m.embed(x), trainSet, testSet!, config);
      const e: EpochLog = {
        type: 'epoch',
        epoch,
        globalStep: done.globalStep,
        meanLoss: lossSum / Math.max(1, lossCount),
        knnTop1: wantKnn ? knn : undefined,
        setup: setup && Object.keys(setup).length ? setup : undefined,
        elapsedSeconds: (performance.now() - tRun) / 1000,
      };
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
    const m = model;
    if (!stopped && testSet && config.knnEvery === 0) knn = await knnTop1((x) => m.embed(x), trainSet, testSet, config);
    return { stopped, epochsDone: epoch, globalStep: epoch * stepsPerEpoch, checkpoint: lastCheckpoint, backbone, knnTop1: knn, wallSeconds: (performance.now() - t0) / 1000 };
  } finally {
    if (log) {
      const l = log;
      await new Promise((r) => l.end(r));
    }
    loader?.close();
    model?.dispose();
    releaseLock();
  }
}
