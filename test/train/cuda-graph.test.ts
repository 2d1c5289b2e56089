// cudaGraph (docs/training.md): the MoCo step is one graph-safe body. Its randomness is drawn
// on the host before the body runs (same generator, same order as the default step), and its
// static mode (the inputs in fixed buffers, lr and the hard-view weights as device tensors,
// gradients zeroed in place, the queue pointer on the device, metrics in a device buffer) is
// what a CUDA graph captures. On the CPU the static mode runs uncaptured and is compared with
// the default step (whole runs, and step by step from the same state); on CUDA each captured
// and replayed step is compared with the default step from the same state.
import { describe, expect, it } from 'vitest';
import { cuda, Generator, rand } from '../../lib/index.js';
import { native } from '../../lib/native.js';
import type { NativeTrainerOptions } from '../../lib/native-types.js';
import { checkCudaGraphWorld, ConfigError, resolveConfig } from '../../lib/train/config.js';
import { TrainerModel, type Metrics } from '../../lib/train/model.js';
import { compareStates, describeLockstep, lockstep, onDevice, outside, withExactGpu } from '../support/lockstep.js';
import { MOCO_BATCH, MOCO_SCHEDULE_21, MOCO_SIZE, mocoLockSteps, smallMocoConfig } from '../support/small-runs.js';

const n = MOCO_BATCH, size = MOCO_SIZE;
// Each step's lr and hardViewScale: the lr buffer is refilled every step, and a scale of 0
// (before hardViewStartEpoch) is another plan (on CUDA: another graph, captured again).
const schedule = [
  { lr: 0.05, scale: 1 },
  { lr: 0.03, scale: 1 },
  { lr: 0.04, scale: 0 },
  { lr: 0.02, scale: 0.5 },
];
const config = smallMocoConfig;

type Run = { model: TrainerModel; views: Generator; metrics: Metrics[] };

async function start(method: 'hexa-moco' | 'moco', device: string, extra: NativeTrainerOptions, cfg: Record<string, unknown> = {}): Promise<Run> {
  const model = await TrainerModel.create(config(method, device, cfg), { viewSize: size, datasetSize: n }, undefined, extra);
  return { model, views: new Generator(99), metrics: [] };
}

// Steps with views from the run's own view generator and the trainer's own randomness (PGD
// start, CutMix boxes and partners drawn from its generator: nothing injected).
async function steps(run: Run, plan: typeof schedule, device: string): Promise<void> {
  for (const { lr, scale } of plan) {
    const on = onDevice(device as 'cpu' | 'cuda');
    const viewQ = await on(await rand([n, 3, size, size], { generator: run.views }));
    const viewK = await on(await rand([n, 3, size, size], { generator: run.views }));
    run.metrics.push(await run.model.stepViews([viewQ, viewK], lr, { hardViewScale: scale }));
  }
}

// Whole state of `a` against `b` (test/support/lockstep.ts): integer tensors (generators, the
// queue pointer) equal, the worst float tensor's relative error (no norm floor: the 1e-5 bound
// below is on these tensors' own scale).
async function expectClose(a: TrainerModel, b: TrainerModel): Promise<{ worst: number; name: string; differing: number }> {
  const d = await compareStates(a, b, 0);
  expect(d.mismatched).toEqual([]);
  return d;
}

function relMetric(a: Metrics[], b: Metrics[]): number {
  let worst = 0;
  a.forEach((m, s) => {
    for (const k of ['loss', 'lossClean', 'lossAdv', 'lossMix', 'accuracy'] as const) worst = Math.max(worst, Math.abs(m[k] - b[s][k]) / Math.max(Math.abs(b[s][k]), 1e-6));
  });
  return worst;
}

describe('the graph-safe MoCo step (static mode) on the CPU', () => {
  // auxBN: the auxiliary BN trains only in steps with the adversarial view; a scale-0 step in
  // between must leave it alone (static mode frees the gradients when the plan changes).
  for (const [method, auxBN] of [['hexa-moco', false], ['hexa-moco', true], ['moco', false]] as const) {
    it(`${method}${auxBN ? ' (auxBN)' : ''}: ${schedule.length} steps equal the default step (first step bitwise; later ones to the lr update's rounding)`, async () => {
      const cfg = auxBN ? { adversarial: { eps: 8 / 255, stepSize: 2 / 255, steps: 2, randomStart: true, weight: 0.7, auxBN: true } } : {};
      const eager = await start(method, 'cpu', {}, cfg);
      const still = await start(method, 'cpu', { staticStep: true }, cfg);
      await steps(eager, schedule, 'cpu');
      await steps(still, schedule, 'cpu');
      const { worst, name } = await expectClose(still.model, eager.model);
      // Before any update the two bodies compute the same floats.
      expect(still.metrics[0]).toEqual(eager.metrics[0]);
      const metric = relMetric(still.metrics, eager.metrics);
      console.log(`${method}${auxBN ? ' (auxBN)' : ''} static vs default (cpu, ${schedule.length} steps): worst tensor relative error ${worst.toExponential(2)} (${name}), worst metric relative error ${metric.toExponential(2)}`);
      // p − round(lr·d) against the fused p + (−lr)·d: last-bit differences, a few steps on.
      expect(worst).toBeLessThan(1e-5);
      expect(metric).toBeLessThan(1e-4);
      if (method === 'moco') expect(still.metrics.every((m) => m.lossAdv === 0 && m.lossMix === 0)).toBe(true);
      else expect(still.metrics[0].lossAdv).toBeGreaterThan(0);
      eager.model.dispose();
      still.model.dispose();
    }, 300_000);
  }

  // The harness the CUDA graph test uses, on the path it checks there: from the same state the
  // static step computes the same losses bit for bit and the same update up to the lr
  // product's rounding, through every plan of the 21 steps (scale 1, 0.5, 0 and 1 again).
  for (const method of ['hexa-moco', 'moco'] as const) {
    it(`${method}: step by step from the same state, the static step equals the default step (${MOCO_SCHEDULE_21.length} steps, every plan)`, async () => {
      const still = await start(method, 'cpu', { staticStep: true });
      const eager = await start(method, 'cpu', {});
      const report = await lockstep({ model: still.model, device: 'cpu' }, { model: eager.model, device: 'cpu' }, mocoLockSteps(MOCO_SCHEDULE_21));
      console.log(`${method} static vs default (cpu), per step: ${describeLockstep(report)}`);
      expect(report.mismatched).toEqual([]);
      expect(report.worstLosses).toBe(0);
      expect(report.worstState).toBeLessThan(1e-6);
      expect(report.worstState).toBeGreaterThan(0); // the lr rounding is there: the two updates are not the same code
      still.model.dispose();
      eager.model.dispose();
    }, 300_000);
  }

  it('with power-of-two learning rates (lr·d exact, so both updates round once) the static step is the default step bit for bit', async () => {
    const exact = schedule.map((s, i) => ({ ...s, lr: 2 ** -(4 + (i % 3)) }));
    for (const [method, auxBN] of [['hexa-moco', false], ['hexa-moco', true], ['moco', false]] as const) {
      const cfg = auxBN ? { adversarial: { eps: 8 / 255, stepSize: 2 / 255, steps: 2, randomStart: true, weight: 0.7, auxBN: true } } : {};
      const eager = await start(method, 'cpu', {}, cfg);
      const still = await start(method, 'cpu', { staticStep: true }, cfg);
      await steps(eager, exact, 'cpu');
      await steps(still, exact, 'cpu');
      expect(still.metrics, method).toEqual(eager.metrics);
      expect((await expectClose(still.model, eager.model)).differing, method).toBe(0);
      eager.model.dispose();
      still.model.dispose();
    }
  }, 300_000);

  it('a checkpoint of the static step resumes bit for bit (the device queue pointer follows the loaded one)', async () => {
    const whole = await start('hexa-moco', 'cpu', { staticStep: true });
    await steps(whole, schedule, 'cpu');
    const first = await start('hexa-moco', 'cpu', { staticStep: true });
    await steps(first, schedule.slice(0, 2), 'cpu');
    const resumed = await start('hexa-moco', 'cpu', { staticStep: true });
    await resumed.model.loadState(await first.model.state());
    resumed.views = first.views; // the same views from here on
    await steps(resumed, schedule.slice(2), 'cpu');
    expect((await expectClose(resumed.model, whole.model)).differing).toBe(0);
    expect(resumed.metrics).toEqual(whole.metrics.slice(2));
    for (const r of [whole, first, resumed]) r.model.dispose();
  }, 300_000);
});

describe('cudaGraph is refused, by name, where it cannot run', () => {
  it('on the CPU, for DeepCluster, for device auto without a GPU, with several ranks', () => {
    expect(() => config('hexa-moco', 'cpu', { cudaGraph: true })).toThrow(ConfigError);
    expect(() => config('hexa-moco', 'cpu', { cudaGraph: true })).toThrow(/cudaGraph needs a CUDA device, but device is 'cpu'/);
    expect(() => resolveConfig({ method: 'hexa-dcluster', device: 'cuda', cudaGraph: true })).toThrow(/cudaGraph captures the MoCo-family step only .*'hexa-dcluster'/);
    if (!cuda.isAvailable()) expect(() => resolveConfig({ device: 'auto', cudaGraph: true })).toThrow(/cudaGraph needs a CUDA device, but device 'auto' found no CUDA device/);
    expect(() => resolveConfig({ cudaGraph: 'yes' })).toThrow(/cudaGraph must be true or false, got 'yes'/);
    expect(() => resolveConfig({ device: 'cuda', cudaGraph: true, precision: 'fp16' })).toThrow(/cudaGraph does not run with precision 'fp16'/);
    // Where it could run (CUDA, the MoCo family, not fp16) it is held back in this release: its
    // CUDA test has not yet passed on a GPU (docs/training.md).
    expect(() => config('hexa-moco', 'cuda', { cudaGraph: true })).toThrow(/cudaGraph is held back in this release: its captured step has not yet been shown on a GPU to match the default step/);
    const c = { ...config('hexa-moco', 'cuda'), cudaGraph: true };
    expect(() => checkCudaGraphWorld(c, 2)).toThrow(/cudaGraph runs in one process only, but this run has 2 ranks/);
    expect(() => checkCudaGraphWorld(c, 1)).not.toThrow();
    expect(config('hexa-moco', 'cpu').cudaGraph).toBe(false);
  });

  it('createTrainer: options.cudaGraph on a CPU trainer, and the static step with fp16', async () => {
    await expect(async () => native().createTrainer('moco', { width: 4, queueSize: 10, device: 'cpu', cudaGraph: true })).rejects.toThrow(/createTrainer: options.cudaGraph needs a CUDA device, options.device is cpu/);
    await expect(async () => native().createTrainer('moco', { width: 4, queueSize: 10, device: 'cpu', staticStep: true, precision: 'fp16' })).rejects.toThrow(/createTrainer: options.staticStep does not run with options.precision 'fp16'/);
  });
});

// TF32 off and cuDNN deterministic (withExactGpu): the two paths then differ only where their code does.
describe.skipIf(!cuda.isAvailable())('the CUDA graph of the MoCo step (skipped when no CUDA device: needs a GPU)', () => {
  // Every step of the graph trainer (warm-ups, the capture, replays, recaptures) against the
  // default step taken from the same state with the same views: the default trainer loads the
  // graph trainer's state before each step (test/support/lockstep.ts says why runs are not
  // compared over many steps). From one state, with cuDNN deterministic, the two differ in the
  // lr update's rounding (last bits, CPU: 1.1e-7) and in whatever a library does differently on
  // the graph's side stream, so 1e-4 of each tensor is generous, while a replay that read a
  // stale input, lr or hard-view weight would be off by far more (HEXA_MoCo on the CPU, a step
  // at lr 0.03 in place of 0.05: 0.3 to 0.6 in this measure).
  for (const method of ['hexa-moco', 'moco'] as const) {
    it(`${method}: each captured and replayed step equals the default step from the same state (${MOCO_SCHEDULE_21.length} steps, TF32 off, cuDNN deterministic)`, () =>
      withExactGpu(async () => {
        const graph = await start(method, 'cuda', { cudaGraph: true });
        const eager = await start(method, 'cuda', {});
        try {
          const report = await lockstep({ model: graph.model, device: 'cuda' }, { model: eager.model, device: 'cuda' }, mocoLockSteps(MOCO_SCHEDULE_21));
          console.log(`${method} (cuda) graph vs default, per step: ${describeLockstep(report)}`);
          // Warm-up steps (0) and replays (1, the capture step included): 3 warm-up steps after
          // start and after each change of plan (HEXA_MoCo: scale 0 and back; MoCo-v2 has one plan).
          expect(report.metrics.map((m) => m.cudaGraphReplay).join('')).toBe(method === 'hexa-moco' ? '000111111110001100011' : '000111111111111111111');
          // The same draws and queue position (integer state), every tensor within 1e-4, losses 1e-5.
          expect(outside(report, { losses: 1e-5, whole: 1e-4, oneTensor: 1e-4 })).toEqual([]);
        } finally {
          graph.model.dispose();
          eager.model.dispose();
        }
      }), 600_000);
  }

  it('a checkpoint taken after replayed steps resumes (a fresh graph trainer, and the same one loading it back)', () =>
    withExactGpu(async () => {
      const first = await start('hexa-moco', 'cuda', { cudaGraph: true });
      await steps(first, [...schedule.slice(0, 2), ...schedule.slice(0, 2), ...schedule.slice(0, 2)], 'cuda');
      const saved = await first.model.state();
      const copy = Object.fromEntries(await Promise.all(Object.entries(saved).map(async ([k, t]) => [k, await t.clone()] as const)));
      const resumed = await start('hexa-moco', 'cuda', { cudaGraph: true });
      await resumed.model.loadState(copy);
      const views = first.views.getState();
      resumed.views.setState(views);
      const more = [...schedule.slice(0, 2), ...schedule.slice(0, 2), ...schedule.slice(0, 2)];
      await steps(first, more, 'cuda');
      await steps(resumed, more, 'cuda');
      const { worst, name } = await expectClose(resumed.model, first.model);
      console.log(`checkpoint after graph steps, resumed (cuda): worst tensor relative error ${worst.toExponential(2)} (${name})`);
      expect(worst).toBeLessThan(1e-4);
      // Loading into a trainer that holds a captured graph: it captures again, from the loaded state.
      await first.model.loadState(copy);
      first.views.setState(views);
      first.metrics = [];
      resumed.metrics = [];
      await steps(first, more, 'cuda');
      const again = await start('hexa-moco', 'cuda', { cudaGraph: true });
      await again.model.loadState(copy);
      again.views.setState(views);
      await steps(again, more, 'cuda');
      expect((await expectClose(first.model, again.model)).worst).toBeLessThan(1e-4);
      for (const r of [first, resumed, again]) r.model.dispose();
    }), 600_000);
});
