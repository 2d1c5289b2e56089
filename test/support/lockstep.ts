// Two trainers compared one step at a time from the same state ("lockstep"): before each step
// the reference loads the subject's whole state (weights, optimizer, queue or bank, generators),
// then both take the same step. Used where two implementations round differently (a CUDA path
// against the CPU, a captured graph against the default step): in the small networks of these
// tests (6-16 images, width 4, BatchNorm everywhere) a step is not a continuous function of the
// weights at float32 resolution (a ReLU's gradient jumps where its input crosses 0; PGD's sign()
// turns a last bit into a whole attack step). Measured on the CPU (scripts/conditioning.ts;
// docs/training.md, "Comparing runs"): a 1e-6 relative change of the weights moves the state
// after one HEXA_MoCo step of the CUDA graph test by up to 6.9e-2 in one tensor (the median step:
// 2.6e-6), and a 1e-6 change of the initial weights moves HEXA_MoCo's state after two steps by
// 0.94 while the independent PyTorch implementation (test/reference) moves with ours (within
// 1e-5 of ours at the changed point). So runs compared over several steps part whenever their
// last bits differ, however right both are.
import { cuda, Generator, rand, scope, type Tensor } from '../../lib/index.js';
import type { Metrics, TrainerModel } from '../../lib/train/model.js';

/** One step of a trainer; `on` puts a CPU tensor on that trainer's device. */
export type LockStep = (model: TrainerModel, on: (t: Tensor) => Promise<Tensor>) => Promise<Metrics>;

export interface Side {
  model: TrainerModel;
  device: 'cpu' | 'cuda';
}

/** Puts a CPU tensor on `device` (itself on the CPU). */
export const onDevice = (device: 'cpu' | 'cuda') => async (t: Tensor) => (device === 'cpu' ? t : t.to(device));

export interface LockstepReport {
  /** Per step: the worst tensor's ‖subject − reference‖ / max(‖reference‖, floor), its name. */
  steps: Array<{ state: number; name: string; whole: number; losses: number }>;
  worstState: number;
  /** The worst step's difference over the whole state at once (StateDifference.whole). */
  worstWhole: number;
  worstLosses: number;
  /** The subject's metrics of every step (cudaGraphReplay and the like). */
  metrics: Metrics[];
  /** Integer tensors that differed (or were missing), as 'step N: name': none when both drew alike. */
  mismatched: string[];
}

const LOSSES = ['loss', 'lossClean', 'lossAdv', 'lossMix'] as const;

async function values(model: TrainerModel): Promise<Map<string, { data: number[]; integer: boolean }>> {
  return scope(async () => {
    const out = new Map<string, { data: number[]; integer: boolean }>();
    for (const [k, t] of Object.entries(await model.state())) {
      out.set(k, { data: Array.from(await t.data(), Number), integer: !['float32', 'float64', 'float16', 'bfloat16'].includes(t.dtype) });
    }
    return out;
  });
}

export interface StateDifference {
  /** The worst float tensor's ‖s − r‖ / max(‖r‖, floor), and its name. */
  worst: number;
  name: string;
  /** The same over all float tensors at once (each norm floored as above). */
  whole: number;
  /** Integer tensors not equal (or missing). */
  mismatched: string[];
  /** Float elements that are not the same value bit for bit (Object.is: -0 is not 0, NaN is NaN). */
  differing: number;
}

/**
 * The worst float tensor of `subject`'s state against `reference`'s, ‖s − r‖ / max(‖r‖, floor)
 * with the norm floored at an RMS of `floorRms` (a Linear bias in front of a BatchNorm has an
 * analytically zero gradient: its momentum buffer is rounding noise on both sides), and the
 * integer tensors (generator states, queue pointer, assignments) that are not equal or missing.
 */
export async function compareStates(subject: TrainerModel, reference: TrainerModel, floorRms = 1e-2): Promise<StateDifference> {
  const [a, b] = [await values(subject), await values(reference)];
  let worst = 0, name = '', diffAll = 0, normAll = 0, differing = 0;
  const mismatched: string[] = [];
  for (const [k, ref] of b) {
    const ours = a.get(k);
    if (!ours || ours.data.length !== ref.data.length) {
      mismatched.push(k);
      continue;
    }
    if (ref.integer) {
      if (ours.data.some((v, i) => v !== ref.data[i])) mismatched.push(k);
      continue;
    }
    let diff = 0, norm = 0;
    ref.data.forEach((v, i) => {
      diff += (ours.data[i] - v) ** 2;
      norm += v * v;
      if (!Object.is(ours.data[i], v)) differing++;
    });
    const floor = Math.max(Math.sqrt(norm), floorRms * Math.sqrt(ref.data.length), 1e-30);
    const err = Math.sqrt(diff) / floor;
    diffAll += diff;
    normAll += floor * floor;
    if (Number.isNaN(err)) [worst, name] = [Infinity, `${k} (NaN)`];
    else if (err > worst) [worst, name] = [err, k];
  }
  return { worst, name, whole: Math.sqrt(diffAll) / Math.sqrt(normAll), mismatched, differing };
}

/**
 * `state` with every float32 tensor whose name starts with `prefix` multiplied element-wise by
 * (1 + u·2·rel), u uniform in [-0.5, 0.5) from `generator`: the reference side of a conditioning
 * probe (scripts/conditioning.ts).
 */
export async function perturbed(state: Record<string, Tensor>, rel: number, prefix: string, generator: Generator): Promise<Record<string, Tensor>> {
  const out: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(state)) {
    if (t.dtype !== 'float32' || !k.startsWith(prefix)) {
      out[k] = t;
      continue;
    }
    const uniform = await rand(t.shape, { generator });
    const u = await (t.device === 'cpu' ? uniform : await uniform.to(t.device)).sub(0.5);
    out[k] = await t.add(await (await t.mul(u)).mul(2 * rel));
  }
  return out;
}

export interface LockstepOptions {
  /** See compareStates (default 1e-2). */
  floorRms?: number;
  /** Changes the state the reference loads before each step (a conditioning probe). */
  perturb?: (state: Record<string, Tensor>) => Promise<Record<string, Tensor>>;
}

/**
 * Runs `steps` on both sides in lockstep and returns the per-step differences (compareStates
 * after each step; both sides drew the same randomness and advanced the same pointers, so
 * `mismatched` should be empty).
 */
export async function lockstep(subject: Side, reference: Side, steps: LockStep[], options: LockstepOptions = {}): Promise<LockstepReport> {
  const report: LockstepReport = { steps: [], worstState: 0, worstWhole: 0, worstLosses: 0, metrics: [], mismatched: [] };
  for (const step of steps) {
    // One scope per step: the state copies and the step's views are freed when both sides are done.
    const [ms, mr, { worst, name, whole, mismatched }] = await scope(async () => {
      // The reference copies the subject's tensors into its own (loadState copies).
      const state = await subject.model.state();
      await reference.model.loadState(options.perturb ? await options.perturb(state) : state);
      const subjectMetrics = await step(subject.model, onDevice(subject.device));
      const referenceMetrics = await step(reference.model, onDevice(reference.device));
      return [subjectMetrics, referenceMetrics, await compareStates(subject.model, reference.model, options.floorRms)] as const;
    });
    report.metrics.push(ms);
    for (const k of mismatched) report.mismatched.push(`step ${report.steps.length}: ${k}`);
    let losses = 0;
    for (const k of LOSSES) losses = Math.max(losses, Math.abs(ms[k] - mr[k]) / Math.max(Math.abs(mr[k]), 1e-6));
    report.steps.push({ state: worst, name, whole, losses });
    report.worstWhole = Math.max(report.worstWhole, whole);
    report.worstState = Math.max(report.worstState, worst);
    report.worstLosses = Math.max(report.worstLosses, losses);
  }
  return report;
}

export interface Bounds {
  /** Relative difference of each loss term. */
  losses: number;
  /** StateDifference.whole. */
  whole: number;
  /** StateDifference.worst: any one tensor. */
  oneTensor: number;
}

/**
 * One step of CUDA against the CPU, which round differently everywhere, set against
 * scripts/conditioning.ts (docs/training.md, "Comparing runs"): on the CPU, weights moved by 1e-6
 * before each step of the tests' runs (attack step 0) move the losses by at most 4.2e-6 and the
 * whole state by at most 1.7e-3, while one small tensor alone can jump by a few percent where a
 * ReLU flips (to 2.9e-2); a wrong CUDA gradient of a layer is off by the order of its size.
 */
export const CUDA_VS_CPU: Bounds = { losses: 1e-4, whole: 1e-2, oneTensor: 0.3 };

/** What in `report` is outside `bounds` (integer mismatches included), one line each: [] when all is within. */
export function outside(report: LockstepReport, bounds: Bounds): string[] {
  const out = [...report.mismatched.map((m) => `integer tensor differs: ${m}`)];
  report.steps.forEach((s, i) => {
    if (!(s.losses <= bounds.losses)) out.push(`step ${i}: losses ${s.losses.toExponential(1)} > ${bounds.losses}`);
    if (!(s.whole <= bounds.whole)) out.push(`step ${i}: whole state ${s.whole.toExponential(1)} > ${bounds.whole}`);
    if (!(s.state <= bounds.oneTensor)) out.push(`step ${i}: ${s.name} ${s.state.toExponential(1)} > ${bounds.oneTensor}`);
  });
  return out;
}

/** One line per step for the test's output (what a failure needs first). */
export function describeLockstep(report: LockstepReport): string {
  return report.steps.map((s, i) => `${i}: worst tensor ${s.state.toExponential(1)} (${s.name}), whole state ${s.whole.toExponential(1)}, losses ${s.losses.toExponential(1)}`).join('; ');
}

/**
 * Runs `f` with the GPU computing float32 as float32 (TF32 off: cuDNN convolutions default to
 * TF32, ~1e-3 relative) and cuDNN restricted to deterministic algorithms (atomics in some backward
 * convolutions add in any order), both restored afterwards: what leaves two GPU paths differing
 * only where their code differs.
 */
export async function withExactGpu(f: () => Promise<void>): Promise<void> {
  const [tf32, deterministic] = [cuda.allowTF32(), cuda.cudnnDeterministic()];
  cuda.setAllowTF32(false);
  cuda.setCudnnDeterministic(true);
  try {
    await f();
  } finally {
    cuda.setAllowTF32(tf32);
    cuda.setCudnnDeterministic(deterministic);
  }
}
