// The training run of every method: data, the learning-rate schedule, the method's passes
// (DeepCluster's bank pass before epoch 0 and k-means at each epoch's start), metrics,
// checkpoints, resume, the kNN monitor. The method itself is in methods/ and native/train/.
import fs from 'node:fs';
import path from 'node:path';
import { BatchLoader, openDataset, subset, type ImageDataset } from '../data/index.js';
import { Communicator, distBackends } from '../dist/communicator.js';
import { worldFromEnv } from '../dist/env.js';
import { datasetFeatures, knnAccuracy } from '../eval/knn.js';
import { info, setNumThreads, type CpuFeatures } from '../runtime.js';
import { scope, Tensor } from '../tensor.js';
import { checkCudaGraphWorld, familyOf, RESUME_OVERRIDABLE, type TrainConfig } from './config.js';
import { exportBackbone, loadCheckpoint, readCheckpointInfo, saveCheckpoint, type CheckpointInfo } from './checkpoint.js';
import { initBackbone } from './init.js';
import { TrainerModel, type Metrics } from './model.js';
import { cosineWithWarmup } from './schedule.js';
import { acquireRunLock } from './run-lock.js';

/**
 * fp16 steps that overflow in a row before a run stops: each halves the loss scale, so 30 take
 * torch.amp.GradScaler's initial 65536 below 1e-4, a scale no healthy run needs.
 */
const MAX_SKIPPED_IN_A_ROW = 30;

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

/**
 * What the trainer says before it trains at a precision this CPU has no arithmetic for, or null.
 * Autocast then runs emulated: 'fp16' on most CPUs (8x slower than 'fp32' measured on a 2-core
 * AMD EPYC), 'bf16' on CPUs without AVX512-BF16 or AMX (12-14x slower than 'fp32' on an
 * AVX2-only AMD EPYC, in PyTorch's autocast too; docs/performance.md). A run is not refused:
 * the result is right, only slow, and the user may be testing a config meant for a GPU.
 */
export function cpuPrecisionNotice(precision: TrainConfig['precision'], device: string, cpu: CpuFeatures): string | null {
  if (device !== 'cpu' || precision === 'fp32') return null;
  const noBf16 = 'this CPU has no bfloat16 arithmetic (no AVX512-BF16 or AMX)';
  if (precision === 'fp16') {
    return "precision 'fp16' on a CPU is slow (most CPUs have no float16 arithmetic: 8x slower than 'fp32' on a 2-core AMD EPYC); it is meant for GPUs without bfloat16, " +
      (cpu.nativeBf16 === false ? `and ${noBf16}: 'fp32' is the fast option here` : "and 'bf16' is the fast CPU option");
  }
  return cpu.nativeBf16 === false
    ? `precision 'bf16' is emulated on this CPU and slow: ${noBf16}; 12-14x slower than 'fp32' on an AVX2-only AMD EPYC. 'fp32' is the fast option here`
    : null;
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

export interface TrainOptions {
  /**
   * This process's rank in a data-parallel world (docs/distributed.md). Default: the world of
   * the environment (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, as torchrun sets them), else
   * one process.
   */
  communicator?: Communicator;
}

/** The communicator of the environment's world (none when not in one); the caller closes it. */
export async function connectFromEnv(config: TrainConfig): Promise<Communicator | null> {
  const world = worldFromEnv();
  if (!world) return null;
  const backend = config.device.startsWith('cuda') ? 'nccl' : 'gloo';
  const support = distBackends();
  if (!support[backend]) throw new Error(`data-parallel training with ${backend} is unavailable: ${backend === 'gloo' ? support.glooMissing : support.ncclMissing}`);
  return Communicator.connect({ backend, ...world, timeoutSeconds: config.distTimeout, cudaDevice: world.localRank });
}

/**
 * Where a resumed run continues in its epoch: the checkpoint counts global batches of its own
 * world size; another world size starts at the batch holding the first image not yet seen (at
 * most one global batch is seen twice).
 */
export function resumeStep(epochStep: number, savedWorld: number, world: number, stepsPerEpoch: number): number {
  if (savedWorld === world) return epochStep;
  return Math.min(stepsPerEpoch, Math.floor((epochStep * savedWorld) / world));
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

export async function train(config: TrainConfig, hooks: TrainHooks = {}, options: TrainOptions = {}): Promise<TrainResult> {
  const t0 = performance.now();
  if (config.threads) setNumThreads(config.threads);
  const ckptDir = path.join(config.out, 'checkpoints');
  const resume = resumeCheckpoint(config);
  // The saved run's config decides everything that shapes the model and the data order.
  if (resume) config = resumedConfig(resume.info.config, config);
  // Data parallel: every rank computes; rank 0 alone writes (lock, config, metrics,
  // checkpoints, backbone) and reports.
  const comm = options.communicator ?? (await connectFromEnv(config));
  const ownComm = comm !== null && !options.communicator;
  const world = comm?.worldSize ?? 1;
  checkCudaGraphWorld(config, world);
  const rank = comm?.rank ?? 0;
  const lead = rank === 0;
  const say = (m: string) => lead && hooks.onMessage?.(m);
  if (comm && /^cuda$/.test(config.device)) config = { ...config, device: `cuda:${worldFromEnv()?.localRank ?? 0}` };
  // A stop asked on any rank stops every rank after the same step.
  const agreeStop = async (): Promise<boolean> => {
    const asked = hooks.stopRequested?.() ?? false;
    return comm ? (await comm.sum([asked ? 1 : 0]))[0] > 0 : asked;
  };
  if (lead) fs.mkdirSync(config.out, { recursive: true });
  let releaseLock = () => {};
  let model: TrainerModel | null = null;
  let loader: BatchLoader | null = null;
  let log: fs.WriteStream | null = null;
  try {
    if (lead) releaseLock = acquireRunLock(config.out);
    const trainSet = await openTrainSet(config);
    if (trainSet.size < config.batchSize * world) {
      throw new Error(`batchSize ${config.batchSize}${world > 1 ? ` × ${world} processes` : ''} is larger than the ${trainSet.size} training images of ${trainSet.name}`);
    }
    if (familyOf(config.method) === 'moco' && config.moco.queueSize < config.batchSize * world) {
      throw new Error(`moco.queueSize ${config.moco.queueSize} is smaller than the ${config.batchSize * world} keys a step enqueues (batchSize ${config.batchSize}${world > 1 ? ` × ${world} processes` : ''})`);
    }
    const testSet = trainSet.classes && config.knnEvery >= 0 ? await openDataset(config.data, 'test') : null;
    const context = { viewSize: config.imageSize || trainSet.height, datasetSize: trainSet.size };
    const shard = { rank, worldSize: world };
    loader = new BatchLoader(trainSet, { batchSize: config.batchSize, seed: config.seed >>> 0, dropLast: true, prefetch: 2, shard });
    const stepsPerEpoch = loader.stepsPerEpoch;
    const totalSteps = Math.max(1, stepsPerEpoch * config.epochs);
    // batchSize is per process (as DDP's): the learning rate scales with the global batch.
    const baseLr = (config.lr * config.batchSize * world) / 256;
    model = await TrainerModel.create(config, context, comm ?? undefined);
    const notice = cpuPrecisionNotice(config.precision, config.device, info().cpu);
    if (notice) say(notice);
    let epoch = 0;
    let epochStep = 0;
    if (resume) {
      await loadCheckpoint(resume.file, resume.info, model);
      epoch = resume.info.epoch;
      const savedWorld = resume.info.worldSize ?? 1;
      epochStep = resumeStep(resume.info.epochStep, savedWorld, world, stepsPerEpoch);
      say(`resumed from ${resume.file} at epoch ${epoch + 1}, step ${epochStep}` +
        (savedWorld !== world ? ` (saved by ${savedWorld} process${savedWorld > 1 ? 'es' : ''} at step ${resume.info.epochStep}, now ${world})` : ''));
    } else {
      if (lead) fs.writeFileSync(path.join(config.out, 'config.json'), JSON.stringify(config, null, 2) + '\n');
      // Every rank reads the same file, so the ranks start equal without a broadcast.
      if (config.init) say(`initialised the backbone from ${await initBackbone(model, config.init)}`);
      if (model.wantsInitPass && config.epochs > 0) {
        // DeepCluster: every image's embedding in the bank before the first clustering.
        say(`filling the memory bank (${trainSet.size} images)`);
        const bankLoader = new BatchLoader(trainSet, { batchSize: config.batchSize, seed: config.seed >>> 0, dropLast: false, prefetch: 2, shuffle: false, shard });
        try {
          for await (const batch of bankLoader.tensors(0)) await model.observe(batch.images, batch.indices);
        } finally {
          bankLoader.close();
        }
      }
    }
    if (lead) log = fs.createWriteStream(path.join(config.out, 'metrics.jsonl'), { flags: 'a' });
    const at = (epoch: number, epochStep: number, globalStep: number) => ({ epoch, epochStep, globalStep, ...(world > 1 ? { worldSize: world } : {}) });
    let stopped = false;
    let lastCheckpoint: string | null = null;
    let knn: number | undefined;
    let imagesSeen = 0;
    let skippedInARow = 0;
    const tRun = performance.now();
    for (; epoch < config.epochs && !stopped; epoch++, epochStep = 0) {
      let lossSum = 0;
      let lossCount = 0;
      // A run resumed mid-epoch already has this epoch's set-up (assignments) in its state.
      const setup = epochStep === 0 ? await model.beginEpoch(epoch) : undefined;
      if (setup && Object.keys(setup).length) log?.write(JSON.stringify({ type: 'epoch-setup', epoch, ...setup }) + '\n');
      for await (const batch of loader.tensors(epoch, { startStep: epochStep })) {
        const globalStep = epoch * stepsPerEpoch + batch.step;
        const lr = cosineWithWarmup(globalStep, totalSteps, baseLr, config.warmupEpochs * stepsPerEpoch, config.finalLr);
        let m = await model.step(batch.images, batch.indices, lr, epoch >= config.hardViewStartEpoch ? 1 : 0);
        // Data parallel: the step's metrics are the mean over ranks (one collective).
        if (comm) {
          const names = Object.keys(m);
          const sums = await comm.sum(names.map((k) => m[k]));
          m = Object.fromEntries(names.map((k, i) => [k, sums[i] / world]));
        }
        imagesSeen += batch.images.shape[0] * world;
        // fp16: a step whose loss scale overflowed updated nothing (the scale halved); it is
        // logged but left out of the epoch's mean, and only a long run of them is an error.
        const skipped = m.skipped === 1;
        skippedInARow = skipped ? skippedInARow + 1 : 0;
        if (!skipped) {
          lossSum += m.loss;
          lossCount++;
        }
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
        log?.write(JSON.stringify(entry) + '\n');
        if (lead) hooks.onStep?.(entry);
        if (skippedInARow >= MAX_SKIPPED_IN_A_ROW) {
          throw new Error(`fp16: ${skippedInARow} steps in a row overflowed (loss scale now ${m.lossScale}) at epoch ${epoch + 1} step ${batch.step}: lower lr or use precision 'bf16'`);
        }
        if (!skipped && !Number.isFinite(m.loss)) {
          const origin = resume && globalStep === resume.info.globalStep ? ` (the first step after loading ${resume.file}: check that checkpoint)` : ': lower lr';
          throw new Error(`the loss became ${m.loss} at epoch ${epoch + 1} step ${batch.step}${origin}`);
        }
        // Asked after the step is reported (as hooks expect); every rank agrees on the answer.
        if ((await agreeStop()) && batch.step + 1 < stepsPerEpoch) {
          if (lead) lastCheckpoint = await saveCheckpoint(ckptDir, 'last', model, at(epoch, batch.step + 1, globalStep + 1));
          say(`stopped; checkpoint ${lastCheckpoint} (resume with --resume)`);
          stopped = true;
          break;
        }
      }
      if (stopped) break;
      const done = at(epoch + 1, 0, (epoch + 1) * stepsPerEpoch);
      if (lead) {
        lastCheckpoint = await saveCheckpoint(ckptDir, 'last', model, done);
        if ((epoch + 1) % config.saveEvery === 0) await saveCheckpoint(ckptDir, `epoch-${String(epoch + 1).padStart(4, '0')}`, model, done);
      }
      // The kNN monitor runs on rank 0 (the others wait at their next collective).
      const wantKnn = lead && testSet && config.knnEvery > 0 && (epoch + 1) % config.knnEvery === 0;
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
      log?.write(JSON.stringify(e) + '\n');
      if (lead) hooks.onEpoch?.(e);
      if (await agreeStop()) {
        stopped = epoch + 1 < config.epochs;
        if (stopped) say(`stopped; checkpoint ${lastCheckpoint} (resume with --resume)`);
        epoch++;
        break;
      }
    }
    const backbone = lead ? path.join(config.out, 'backbone.safetensors') : null;
    if (backbone) await exportBackbone(model, backbone);
    const m = model;
    if (lead && !stopped && testSet && config.knnEvery === 0) knn = await knnTop1((x) => m.embed(x), trainSet, testSet, config);
    return { stopped, epochsDone: epoch, globalStep: epoch * stepsPerEpoch, checkpoint: lastCheckpoint, backbone, knnTop1: knn, wallSeconds: (performance.now() - t0) / 1000 };
  } finally {
    if (log) {
      const l = log;
      await new Promise((r) => l.end(r));
    }
    loader?.close();
    model?.dispose();
    // Leaving the world: a backend whose peers died may take a while to shut down; the run's
    // own outcome (result or error) does not wait more than a few seconds for it.
    if (ownComm) await Promise.race([comm!.close().catch(() => {}), new Promise((r) => setTimeout(r, 5000).unref())]);
    releaseLock();
  }
}
