// channelsLast and precision: the same step from the same weights, in another memory format
// or with bfloat16 / float16 autocast. NHWC is the same arithmetic reordered (float32
// agreement); bf16 and fp16 are different, coarser arithmetics (agreement to their digits, not
// more); fp16 adds the dynamic loss scale (torch.amp.GradScaler's rules).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cuda, Generator, info, rand, tensor, type CpuFeatures, type Tensor } from '../../lib/index.js';
import { resolveConfig } from '../../lib/train/config.js';
import { TrainerModel } from '../../lib/train/model.js';
import { cpuPrecisionNotice, train } from '../../lib/train/run.js';

type Precision = 'fp32' | 'bf16' | 'fp16';

async function oneStep(channelsLast: boolean, precision: Precision, before?: (model: TrainerModel) => Promise<void>, device: 'cpu' | 'cuda' = 'cpu') {
  const n = 8, size = 16;
  // stepSize 0: the PGD step's sign(gradient) would turn last-bit differences into whole steps
  // of the attack; with it, the adversarial view is x0 + the given noise in every run.
  const config = resolveConfig({
    method: 'hexa-moco', width: 8, outDim: 16, seed: 3, batchSize: n, moco: { queueSize: 64 }, channelsLast, precision,
    adversarial: { stepSize: 0 }, device,
  });
  const model = await TrainerModel.create(config, { viewSize: size, datasetSize: n });
  await before?.(model);
  const g = new Generator(5);
  const views = [await (await rand([n, 3, size, size], { generator: g })).to(device), await (await rand([n, 3, size, size], { generator: g })).to(device)];
  const noise = await rand([n, 3, size, size], { generator: g });
  const eps = 8 / 255;
  const pgdNoise = await (await (await noise.mul(2 * eps)).sub(eps)).to(device);
  // Every weight and buffer of both encoders and the queue (what a step may change), flat,
  // with each named tensor's range in it.
  const snapshot = async () => {
    const state = await model.state();
    const names = Object.keys(state).filter((k) => k.startsWith('query.') || k.startsWith('key.') || k === 'queue').sort();
    const parts: number[] = [];
    const offsets: number[] = [];
    for (const k of names) {
      offsets.push(parts.length);
      for (const v of await state[k].data()) parts.push(Number(v));
    }
    offsets.push(parts.length);
    for (const t of Object.values(state) as Tensor[]) t.dispose();
    return { names, offsets, values: Float64Array.from(parts) };
  };
  const initial = (await snapshot()).values;
  const metrics = await model.stepViews(views, 0.1, { pgdNoise });
  const { names, offsets, values } = await snapshot();
  const next = await model.stepViews(views, 0.1, { pgdNoise });  // the scale after this step's outcome
  const state = await model.state();
  const scaler = 'grad_scaler.scale' in state
    ? { scale: Number((await state['grad_scaler.scale'].data())[0]), tracker: Number((await state['grad_scaler.growth_tracker'].data())[0]) }
    : null;
  for (const t of Object.values(state) as Tensor[]) t.dispose();
  model.dispose();
  for (const t of [...views, noise, pgdNoise]) t.dispose();
  const update = values.map((v, i) => v - initial[i]);
  // Per named tensor: whether any of its elements changed in the step.
  const changed = names.map((_, j) => update.subarray(offsets[j], offsets[j + 1]).some((d) => d !== 0));
  return { metrics, next, scaler, values, update, names, changed };
}

// The trainer's state with another loss scale, as a checkpoint could carry.
async function withScale(model: TrainerModel, value: number) {
  const state = await model.state();
  const scale = await tensor(new Float32Array([value]), [1]);
  await model.loadState({ ...state, 'grad_scaler.scale': scale });
  for (const t of [...Object.values(state), scale] as Tensor[]) t.dispose();
}

const dot = (a: Float64Array, b: Float64Array) => a.reduce((s, v, i) => s + v * b[i], 0);
const maxAbs = (a: Float64Array, b: Float64Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

describe('memory format and precision of the encoder', () => {
  it('channels_last gives the NCHW step to float32 rounding', async () => {
    const nchw = await oneStep(false, 'fp32');
    const nhwc = await oneStep(true, 'fp32');
    for (const k of ['lossClean', 'lossAdv', 'lossMix', 'loss'] as const) {
      expect(Math.abs(nhwc.metrics[k] - nchw.metrics[k])).toBeLessThan(1e-4 * Math.abs(nchw.metrics[k]));
    }
    expect(maxAbs(nhwc.values, nchw.values)).toBeLessThan(1e-5);
  });

  // The same on CUDA (float32 reference without TF32), skipped without a GPU.
  for (const device of ['cpu', 'cuda'] as const) {
    describe.skipIf(device === 'cuda' && !cuda.isAvailable())(`on ${device}${device === 'cuda' ? ' (skipped when no CUDA device: needs a GPU)' : ''}`, () => {
      let tf32: boolean | undefined;
      beforeAll(() => {
        if (device === 'cuda') {
          tf32 = cuda.allowTF32();
          cuda.setAllowTF32(false);
        }
      });
      afterAll(() => {
        if (tf32 !== undefined) cuda.setAllowTF32(tf32);
      });

    it('bf16 autocast computes in bfloat16 (not float32) and stays within its precision', async () => {
      const fp32 = await oneStep(true, 'fp32', undefined, device);
      const bf16 = await oneStep(true, 'bf16', undefined, device);
      for (const k of ['lossClean', 'lossAdv', 'lossMix'] as const) {
        expect(Number.isFinite(bf16.metrics[k])).toBe(true);
        expect(Math.abs(bf16.metrics[k] - fp32.metrics[k])).toBeLessThan(3e-2 * Math.abs(fp32.metrics[k]));
      }
      // Autocast really ran: bfloat16's 8-bit mantissa moves the losses far beyond float32 rounding.
      expect(Math.abs(bf16.metrics.lossClean - fp32.metrics.lossClean)).toBeGreaterThan(1e-5 * Math.abs(fp32.metrics.lossClean));
      // The step moves the weights the same way. (Element by element the updates differ by up to
      // ~30% here: batch statistics of 8 images in bfloat16, at lr 0.1; what must hold is the direction.)
      const cos = dot(bf16.update, fp32.update) / Math.sqrt(dot(bf16.update, bf16.update) * dot(fp32.update, fp32.update));
      expect(cos).toBeGreaterThan(0.95);
      expect(cos).toBeLessThan(1 - 1e-7);  // and not by float32's arithmetic
    });

    it('fp16 autocast computes in float16 under a loss scale and stays within its precision', async () => {
      const fp32 = await oneStep(true, 'fp32', undefined, device);
      // This 8-image, width-8 network's gradients overflow float16 at GradScaler's initial 65536
      // (and 32768: two skipped steps, as torch.amp would take); from 2^10 they are finite.
      const fp16 = await oneStep(true, 'fp16', (model) => withScale(model, 1024), device);
      expect(fp32.metrics.lossScale).toBeUndefined();  // no scaler outside fp16
      expect(fp32.scaler).toBeNull();
      expect(fp16.metrics.lossScale).toBe(1024);
      expect(fp16.metrics.skipped).toBe(0);
      // Two finite steps: the scale is kept and the growth tracker counts them (doubling at 2000).
      expect(fp16.scaler).toEqual({ scale: 1024, tracker: 2 });
      for (const k of ['lossClean', 'lossAdv', 'lossMix'] as const) {
        expect(Math.abs(fp16.metrics[k] - fp32.metrics[k])).toBeLessThan(1e-2 * Math.abs(fp32.metrics[k]));
      }
      expect(Math.abs(fp16.metrics.lossClean - fp32.metrics.lossClean)).toBeGreaterThan(1e-6 * Math.abs(fp32.metrics.lossClean));
      // The gradients were divided by the scale again: the update is the float32 one, to float16's digits.
      const cos = dot(fp16.update, fp32.update) / Math.sqrt(dot(fp16.update, fp16.update) * dot(fp32.update, fp32.update));
      expect(cos).toBeGreaterThan(0.98);
      expect(cos).toBeLessThan(1 - 1e-9);
      const norm = (a: Float64Array) => Math.sqrt(dot(a, a));
      expect(Math.abs(norm(fp16.update) / norm(fp32.update) - 1)).toBeLessThan(0.1);
    });

    it('fp16: a step whose scaled loss overflows changes no weight, key or queue row and halves the scale', async () => {
      // A checkpoint's scale of 2^127: every scaled loss is +inf in float32.
      const huge = 2 ** 127;
      const fp32 = await oneStep(true, 'fp32', undefined, device);
      const run = await oneStep(true, 'fp16', (model) => withScale(model, huge), device);
      expect(run.metrics.skipped).toBe(1);
      expect(run.metrics.lossScale).toBe(huge);
      // Only the BN running statistics moved (as under torch.amp: the forwards ran); every weight
      // of both encoders and the queue are bitwise as before.
      const moved = run.names.filter((_, i) => run.changed[i]);
      expect(moved.length).toBeGreaterThan(0);
      expect(moved.every((name) => /running_(mean|var)$|num_batches_tracked$/.test(name))).toBe(true);
      expect(fp32.names.filter((_, i) => fp32.changed[i]).some((name) => name.endsWith('.weight'))).toBe(true);
      expect(run.next.lossScale).toBe(huge / 2);  // backed off by 0.5 after the overflow
    });
    });
  }

  it('refuses an unknown precision, naming the key', () => {
    expect(() => resolveConfig({ precision: 'fp8' })).toThrow(/precision must be one of 'fp32', 'bf16', 'fp16'/);
  });

  describe('a precision this CPU has no arithmetic for is named before training', () => {
    const cpu = (nativeBf16: boolean | null): CpuFeatures => ({ arch: 'x86_64', avx2: true, avx512f: !!nativeBf16, avx512bf16: !!nativeBf16, amxBf16: false, nativeBf16 });

    it('bf16 on a CPU without bfloat16 arithmetic: emulated, fp32 advised; with it, or not known: nothing', () => {
      expect(cpuPrecisionNotice('bf16', 'cpu', cpu(false))).toMatch(/^precision 'bf16' is emulated on this CPU.*no AVX512-BF16 or AMX.*'fp32' is the fast option here$/);
      expect(cpuPrecisionNotice('bf16', 'cpu', cpu(true))).toBeNull();
      expect(cpuPrecisionNotice('bf16', 'cpu', cpu(null))).toBeNull();
      expect(cpuPrecisionNotice('bf16', 'cuda:0', cpu(false))).toBeNull();
      expect(cpuPrecisionNotice('fp32', 'cpu', cpu(false))).toBeNull();
    });

    it("fp16 on a CPU: slow everywhere; 'bf16' advised only where the CPU has it", () => {
      expect(cpuPrecisionNotice('fp16', 'cpu', cpu(true))).toMatch(/^precision 'fp16' on a CPU is slow.*and 'bf16' is the fast CPU option$/);
      expect(cpuPrecisionNotice('fp16', 'cpu', cpu(false))).toMatch(/^precision 'fp16' on a CPU is slow.*no AVX512-BF16 or AMX\): 'fp32' is the fast option here$/);
      expect(cpuPrecisionNotice('fp16', 'cuda', cpu(false))).toBeNull();
    });

    it("train() says it for this machine's CPU (precision 'bf16', one tiny epoch)", async () => {
      const out = fs.mkdtempSync(path.join(os.tmpdir(), 'hexa-precision-'));
      const messages: string[] = [];
      try {
        const config = resolveConfig({ data: 'cifar10', trainSubset: 16, batchSize: 8, epochs: 1, width: 4, moco: { queueSize: 16 }, knnEvery: -1, precision: 'bf16', device: 'cpu', out });
        await train(config, { onMessage: (m) => messages.push(m) });
      } finally {
        fs.rmSync(out, { recursive: true, force: true });
      }
      const said = messages.filter((m) => m.startsWith("precision 'bf16' is emulated"));
      expect(said.length).toBe(info().cpu.nativeBf16 === false ? 1 : 0);
    });
  });
});
