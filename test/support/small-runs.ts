// The small training runs the CUDA differential tests compare in lockstep, shared with
// scripts/conditioning.ts (which measures how far one of their steps moves when the weights
// move by a little: what the tests' bounds are set against).
import { Generator, rand, tensor, type Tensor } from '../../lib/index.js';
import { resolveConfig, type TrainConfig } from '../../lib/train/config.js';
import { TrainerModel } from '../../lib/train/model.js';
import type { NativeTrainerOptions } from '../../lib/native-types.js';
import { onDevice, type LockStep, type Side } from './lockstep.js';

export const long = (xs: number[]) => tensor(BigInt64Array.from(xs, BigInt), [xs.length]);

/**
 * The attack with its step at 0: its forwards, backwards and PGD kernel run, but its view stays
 * the random start, so a step is a continuous function of the weights (PGD's sign() is not).
 */
export const ATTACK_STEP_0 = { adversarial: { eps: 8 / 255, stepSize: 0, steps: 2, randomStart: true, weight: 0.7 } };

// ---- MoCo-v2 / HEXA_MoCo: 6 images of 16x16, ResNet-18 width 4, a queue of 10 (it wraps) ----

export const MOCO_BATCH = 6, MOCO_SIZE = 16;

export type MocoPlan = Array<{ lr: number; scale: number }>;

/**
 * 21 steps (test/train/cuda-graph.test.ts): with a CUDA graph, 3 warm-up steps and a capture
 * (hardViewScale 1), replays; scale 0.5 replays the same graph (the weights are device tensors);
 * a new plan (scale 0, as before hardViewStartEpoch): warm-up and capture again; scale 1 again:
 * a third capture.
 */
export const MOCO_SCHEDULE_21: MocoPlan = [...Array(8).fill(1), ...Array(3).fill(0.5), ...Array(5).fill(0), ...Array(5).fill(1)].map(
  (scale: number, i) => ({ lr: [0.05, 0.03, 0.04, 0.02][i % 4], scale }),
);

export function smallMocoConfig(method: 'hexa-moco' | 'moco', device: string, extra: Record<string, unknown> = {}): TrainConfig {
  return resolveConfig({
    method, device, width: 4, moco: { queueSize: 10, keyMomentum: 0.9 }, weightDecay: 5e-4, seed: 3,
    adversarial: { eps: 8 / 255, stepSize: 2 / 255, steps: 2, randomStart: true, weight: 0.7 },
    cutmix: { alpha: 1, weight: 0.6 }, ...extra,
  });
}

export function smallMoco(method: 'hexa-moco' | 'moco', device: string, native: NativeTrainerOptions = {}, extra: Record<string, unknown> = {}): Promise<TrainerModel> {
  return TrainerModel.create(smallMocoConfig(method, device, extra), { viewSize: MOCO_SIZE, datasetSize: MOCO_BATCH }, undefined, native);
}

/**
 * The plan as lockstep steps: each step's views drawn once, in step order, from one generator
 * (seed 99, as the tests' whole runs) and given to both trainers; the trainers draw their own
 * hard-view randomness (the same, from the same loaded generator state).
 */
export function mocoLockSteps(plan: MocoPlan): LockStep[] {
  const views = new Generator(99);
  return plan.map(({ lr, scale }) => {
    let drawn: Promise<Tensor[]> | undefined;
    return async (model, on) => {
      drawn ??= (async () => [
        await rand([MOCO_BATCH, 3, MOCO_SIZE, MOCO_SIZE], { generator: views }),
        await rand([MOCO_BATCH, 3, MOCO_SIZE, MOCO_SIZE], { generator: views }),
      ])();
      const [q, k] = await drawn;
      return model.stepViews([await on(q), await on(k)], lr, { hardViewScale: scale });
    };
  });
}

// ---- DeepCluster-v2 / HEXA_DCluster: 16 images (32 in the bank), width 4, 2 heads, 1 small crop ----

export const DC_BATCH = 16, DC_DATA = 32, DC_SIZE = 16, DC_SMALL = 8, DC_OUT = 16;


export function smallDcluster(method: 'hexa-dcluster' | 'dcluster', optimizer: 'sgd' | 'lars', device: string, extra: Record<string, unknown> = {}): Promise<TrainerModel> {
  return TrainerModel.create(resolveConfig({
    method, device, width: 4, outDim: DC_OUT, seed: 4, channelsLast: false, weightDecay: 5e-4, optimizer, lars: { trustCoefficient: 0.02 },
    dcluster: { prototypes: [3, 2], headHidden: 12, smallCrops: 1, kmeansIterations: 10 },
    adversarial: { eps: 8 / 255, stepSize: 2 / 255, steps: 2, randomStart: true, weight: 0.7 },
    cutmix: { alpha: 1, weight: 0.6 }, ...extra,
  }), { viewSize: DC_SIZE, datasetSize: DC_DATA });
}

/**
 * The bank pass over the whole dataset (two batches, odd then even indices) through every
 * trainer, then every trainer after the first loads the first's state (one bank for all), then
 * k-means on each from the same initial centroids (bank rows of the first). Returns k-means'
 * metrics per trainer. `g` draws the views.
 */
export async function dclusterBankPass(trainers: Side[], g: Generator, afterBankPass?: () => Promise<void>): Promise<Array<Record<string, number>>> {
  for (const rows of [Array.from({ length: DC_BATCH }, (_, i) => 2 * i + 1), Array.from({ length: DC_BATCH }, (_, i) => 2 * i)]) {
    const v = [await rand([DC_BATCH, 3, DC_SIZE, DC_SIZE], { generator: g }), await rand([DC_BATCH, 3, DC_SIZE, DC_SIZE], { generator: g })];
    for (const t of trainers) await t.model.observeViews(await Promise.all(v.map(onDevice(t.device))), long(rows));
  }
  if (afterBankPass) await afterBankPass();
  const state = await trainers[0].model.state();
  for (const t of trainers.slice(1)) await t.model.loadState(state);
  const bank = Array.from((await state.bank.data()) as Float32Array);
  const seeds = [[0, 9, 20], [3, 17]]; // head h clusters bank h % 2
  const init = seeds.map((rows, h) =>
    tensor(Float32Array.from(rows.flatMap((r) => bank.slice(((h % 2) * DC_DATA + r) * DC_OUT, ((h % 2) * DC_DATA + r + 1) * DC_OUT))), [rows.length, DC_OUT]),
  );
  const out: Array<Record<string, number>> = [];
  for (const t of trainers) out.push(await t.model.beginEpoch(0, { initialCentroids: await Promise.all(init.map(onDevice(t.device))) }));
  return out;
}

/** `count` steps with their views, dataset indices and hard-view randomness (PGD start, CutMix partners and boxes) drawn once from `g`. */
export function dclusterLockSteps(method: 'hexa-dcluster' | 'dcluster', g: Generator, count: number): LockStep[] {
  return Array.from({ length: count }, (_, s) => {
    let drawn: Promise<{ views: Tensor[]; noise: Tensor }> | undefined;
    const perm = long(Array.from({ length: DC_BATCH }, (_, i) => (i + 1 + s) % DC_BATCH));
    const boxes = tensor(BigInt64Array.from({ length: DC_BATCH * 4 }, (_, i) => BigInt([2, 3, 9, 12, 0, 0, 5, 16, 10, 10, 16, 16, 0, 0, 16, 16][(i + 4 * s) % 16])), [DC_BATCH, 4]);
    const idx = long(Array.from({ length: DC_BATCH }, (_, i) => (5 * i + 3 * s) % DC_DATA));
    const step: LockStep = async (model, on) => {
      drawn ??= (async () => ({
        views: [
          await rand([DC_BATCH, 3, DC_SIZE, DC_SIZE], { generator: g }),
          await rand([DC_BATCH, 3, DC_SIZE, DC_SIZE], { generator: g }),
          await rand([DC_BATCH, 3, DC_SMALL, DC_SMALL], { generator: g }),
        ],
        noise: await (await (await rand([DC_BATCH, 3, DC_SIZE, DC_SIZE], { generator: g })).mul(2 * (8 / 255))).sub(8 / 255),
      }))();
      const { views, noise } = await drawn;
      const inject = method === 'hexa-dcluster' ? { pgdNoise: await on(noise), perm, boxes } : {};
      return model.stepViews(await Promise.all(views.map(on)), 0.05, { indices: idx, ...inject });
    };
    return step;
  });
}
