// channelsLast and precision: the same step from the same weights, in another memory format
// or with bfloat16 autocast. NHWC is the same arithmetic reordered (float32 agreement);
// bf16 is a different, coarser arithmetic (agreement to bf16's ~3 digits, not more).
import { describe, expect, it } from 'vitest';
import { Generator, rand, type Tensor } from '../../lib/index.js';
import { resolveConfig } from '../../lib/train/config.js';
import { TrainerModel } from '../../lib/train/model.js';

async function oneStep(channelsLast: boolean, precision: 'fp32' | 'bf16') {
  const n = 8, size = 16;
  // stepSize 0: the PGD step's sign(gradient) would turn last-bit differences into whole steps
  // of the attack; with it, the adversarial view is x0 + the given noise in every run.
  const config = resolveConfig({
    method: 'hexa-moco', width: 8, outDim: 16, seed: 3, batchSize: n, moco: { queueSize: 64 }, channelsLast, precision,
    adversarial: { stepSize: 0 },
  });
  const model = await TrainerModel.create(config, { viewSize: size, datasetSize: n });
  const g = new Generator(5);
  const views = [await rand([n, 3, size, size], { generator: g }), await rand([n, 3, size, size], { generator: g })];
  const noise = await rand([n, 3, size, size], { generator: g });
  const eps = 8 / 255;
  const pgdNoise = await (await noise.mul(2 * eps)).sub(eps);
  const backbone = async () => {
    const state = await model.state();
    const keys = Object.keys(state).filter((k) => k.startsWith('query.backbone.')).sort();
    const parts: number[] = [];
    for (const k of keys) for (const v of await state[k].data()) parts.push(Number(v));
    for (const t of Object.values(state) as Tensor[]) t.dispose();
    return Float64Array.from(parts);
  };
  const initial = await backbone();
  const metrics = await model.stepViews(views, 0.1, { pgdNoise });
  const values = await backbone();
  model.dispose();
  for (const t of [...views, noise, pgdNoise]) t.dispose();
  return { metrics, values, update: values.map((v, i) => v - initial[i]) };
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

  it('bf16 autocast computes in bfloat16 (not float32) and stays within its precision', async () => {
    const fp32 = await oneStep(true, 'fp32');
    const bf16 = await oneStep(true, 'bf16');
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

  it('refuses an unknown precision, naming the key', () => {
    expect(() => resolveConfig({ precision: 'fp8' })).toThrow(/precision must be one of 'fp32', 'bf16'|precision.*fp32.*bf16/);
  });
});
