// Batched aug-plus augmentations: sampled parameters follow torchvision's distributions, and
// applying them equals independent references (exact pixel copies for unscaled crops,
// colorsys for hue, torch conv for blur).
import { describe, expect, it } from 'vitest';
import { applyAugment, sampleAugment, type AugmentParams } from '../lib/augment/index.js';
import { cuda, Generator, rand, tensor, Tensor } from '../lib/index.js';
import { maxRelError, torchReference } from './support/torch-reference.js';

async function params(n: number, crop: number[][], rest: Partial<{ flip: number[]; jitter: number[][]; gray: number[]; sigma: number[] }> = {}): Promise<AugmentParams> {
  const f = (rows: number[][] | number[], shape: number[]) => tensor(new Float64Array(rows.flat()), shape);
  return {
    crop: f(crop, [n, 4]),
    flip: f(rest.flip ?? new Array(n).fill(0), [n]),
    jitter: f(rest.jitter ?? Array.from({ length: n }, () => [1, 1, 1, 0]), [n, 4]),
    gray: f(rest.gray ?? new Array(n).fill(0), [n]),
    sigma: f(rest.sigma ?? new Array(n).fill(0), [n]),
  };
}

describe('augmentation sampling', () => {
  it('draws torchvision-like parameters, reproducibly from a seed', async () => {
    const n = 2000;
    const p = await sampleAugment(n, 32, 32, {}, new Generator(7));
    const crop = (await p.crop.data()) as Float64Array;
    for (let i = 0; i < n; i++) {
      const [y0, x0, h, w] = crop.subarray(4 * i, 4 * i + 4);
      expect(y0 >= 0 && x0 >= 0 && y0 + h <= 32 && x0 + w <= 32 && h >= 1 && w >= 1).toBe(true);
      const area = (h * w) / 1024;
      expect(area).toBeGreaterThan(0.12); // 0.2 minus rounding of small boxes
      expect(area).toBeLessThanOrEqual(1);
    }
    const mean = async (t: Tensor) => (Array.from(await t.data(), Number).reduce((a, b) => a + b, 0) / n);
    expect(Math.abs((await mean(p.flip)) - 0.5)).toBeLessThan(0.05);
    expect(Math.abs((await mean(p.gray)) - 0.2)).toBeLessThan(0.04);
    const j = (await p.jitter.data()) as Float64Array;
    let applied = 0;
    for (let i = 0; i < n; i++) {
      const [b, c, s, h] = j.subarray(4 * i, 4 * i + 4);
      const identity = b === 1 && c === 1 && s === 1 && h === 0;
      if (!identity) applied++;
      for (const v of [b, c, s]) expect(v >= 0.6 && v <= 1.4).toBe(true);
      expect(Math.abs(h)).toBeLessThanOrEqual(0.1);
    }
    expect(Math.abs(applied / n - 0.8)).toBeLessThan(0.04);
    expect(Array.from(await p.sigma.data()).every((v) => v === 0)).toBe(true); // blurP defaults to 0
    const again = await sampleAugment(n, 32, 32, {}, new Generator(7));
    expect(Array.from(await again.crop.data())).toEqual(Array.from(crop));
  });

  it('rejects bad options', async () => {
    await expect(sampleAugment(4, 32, 32, { scaleMin: 0 })).rejects.toThrow(/options.scaleMin must be a finite number in/);
    await expect(sampleAugment(4, 32, 32, { hue: 0.7 })).rejects.toThrow(/options.hue/);
    await expect(sampleAugment(-1, 32, 32)).rejects.toThrow(RangeError);
  });
});

describe('augmentation applying', () => {
  it('an unscaled crop is an exact pixel copy, mirrored when flipped; uint8 is scaled to [0, 1]', async () => {
    const g = new Generator(1);
    const x = await rand([3, 3, 12, 10], { generator: g, dtype: 'float64' });
    const p = await params(3, [[2, 1, 6, 5], [0, 0, 6, 5], [6, 5, 6, 5]], { flip: [0, 1, 1] });
    const out = await applyAugment(x, p, 6, 5);
    expect(out.shape).toEqual([3, 3, 6, 5]);
    const xs = (await x.data()) as Float64Array;
    const os = (await out.data()) as Float64Array;
    const boxes = [[2, 1, 0], [0, 0, 1], [6, 5, 1]];
    let worst = 0;
    for (let i = 0; i < 3; i++) for (let c = 0; c < 3; c++) for (let y = 0; y < 6; y++) for (let xx = 0; xx < 5; xx++) {
      const [y0, x0, flip] = boxes[i];
      const sx = flip ? 4 - xx : xx;
      const want = xs[((i * 3 + c) * 12 + y0 + y) * 10 + x0 + sx];
      worst = Math.max(worst, Math.abs(os[((i * 3 + c) * 6 + y) * 5 + xx] - want));
    }
    expect(worst).toBeLessThan(1e-12);
    const u8 = tensor(new Uint8Array([0, 51, 255, 102, 0, 51, 255, 102, 0, 51, 255, 102]), [1, 3, 2, 2]);
    const scaled = await applyAugment(u8, await params(1, [[0, 0, 2, 2]]), 2, 2);
    expect(maxRelError(Array.from(await scaled.data()), [0, 0.2, 1, 0.4, 0, 0.2, 1, 0.4, 0, 0.2, 1, 0.4])).toBeLessThan(1e-6);
  });

  it('color jitter, grayscale and blur equal independent references', async () => {
    const g = new Generator(2);
    const n = 4, h = 10, w = 10;
    const x = await rand([n, 3, h, w], { generator: g, dtype: 'float64' });
    const jitter = [[1.3, 0.7, 1.2, 0.05], [0.8, 1.3, 0.6, -0.08], [1, 1, 1, 0], [1.1, 0.9, 1.4, 0.1]];
    const gray = [0, 0, 1, 1];
    const p = await params(n, Array.from({ length: n }, () => [0, 0, h, w]), { jitter, gray });
    const ours = Array.from((await (await applyAugment(x, p, h, w)).data()) as Float64Array);
    const ref = torchReference(
      `
import colorsys
x, J, G = inp['x'], inp['j'], inp['g']
def gray(t): return (0.299 * t[0] + 0.587 * t[1] + 0.114 * t[2])[None]
res = []
for i in range(x.shape[0]):
    t = x[i].clone()
    b, c, s, hue = J[i].tolist()
    t = (t * b).clamp(0, 1)
    t = (c * t + (1 - c) * gray(t).mean()).clamp(0, 1)
    t = (s * t + (1 - s) * gray(t)).clamp(0, 1)
    if hue != 0:
        u = t.clone()
        for yy in range(t.shape[1]):
            for xx in range(t.shape[2]):
                hh, ss, vv = colorsys.rgb_to_hsv(*t[:, yy, xx].tolist())
                u[:, yy, xx] = torch.tensor(colorsys.hsv_to_rgb((hh + hue) % 1.0, ss, vv), dtype=t.dtype)
        t = u
    if G[i] > 0:
        t = gray(t).expand(3, -1, -1)
    res.append(t)
out['y'] = torch.stack(res)`,
      { x: { data: (await x.data()) as Float64Array, shape: x.shape }, j: { data: new Float64Array(jitter.flat()), shape: [n, 4] }, g: { data: new Float64Array(gray), shape: [n] } },
    );
    expect(maxRelError(ours, ref.y.data, 1e-3)).toBeLessThan(1e-6);

    const sigma = [0.5, 0, 1.7, 2];
    const pb = await params(n, Array.from({ length: n }, () => [0, 0, h, w]), { sigma });
    const blurred = Array.from((await (await applyAugment(x, pb, h, w)).data()) as Float64Array);
    const refBlur = torchReference(
      `
import torch.nn.functional as F
x, S = inp['x'], inp['s']
k = max(3, (min(x.shape[2], x.shape[3]) // 10) | 1)
res = []
for i in range(x.shape[0]):
    s = S[i].item()
    if s == 0:
        res.append(x[i]); continue
    o = torch.arange(k, dtype=x.dtype) - (k - 1) / 2
    ker = torch.exp(-o ** 2 / (2 * s * s)); ker = ker / ker.sum()
    k2 = torch.outer(ker, ker)[None, None].expand(3, 1, k, k)
    t = F.pad(x[i][None], (k // 2,) * 4, mode='reflect')
    res.append(F.conv2d(t, k2, groups=3)[0])
out['y'] = torch.stack(res)`,
      { x: { data: (await x.data()) as Float64Array, shape: x.shape }, s: { data: new Float64Array(sigma), shape: [n] } },
    );
    expect(maxRelError(blurred, refBlur.y.data, 1e-3)).toBeLessThan(1e-9);
  });

  it('rejects mismatched parameters and images', async () => {
    const x = await rand([2, 3, 8, 8]);
    const p = await params(3, [[0, 0, 8, 8], [0, 0, 8, 8], [0, 0, 8, 8]]);
    await expect(applyAugment(x, p, 8, 8)).rejects.toThrow(/params.crop does not match the batch of 2/);
    await expect(applyAugment(await rand([2, 1, 8, 8]), p, 8, 8)).rejects.toThrow(/images must be a \[N, 3, H, W\] Tensor/);
    await expect(applyAugment(x, {} as AugmentParams, 8, 8)).rejects.toThrow(/params.crop must be a Tensor from sampleAugment/);
  });

  it.skipIf(!cuda.isAvailable())('applies the same augmentation on cuda as on the cpu, uint8 in, every step on (skipped when no CUDA device: needs a GPU)', async () => {
    const g = new Generator(5);
    const n = 16, h = 32, w = 32;
    const x = await (await rand([n, 3, h, w], { generator: g })).mul(255);
    const u8 = await x.to('uint8');
    // Every sampled step with probability 1 where it is random, scaled crops of all sizes.
    const p = await sampleAugment(n, h, w, { jitterP: 1, grayscaleP: 0.5, blurP: 1 }, g);
    const cpu = (await (await applyAugment(u8, p, 24, 24)).data()) as Float32Array;
    const gpuOut = await applyAugment(await u8.to('cuda'), p, 24, 24);
    expect(gpuOut.device).toBe('cuda:0');
    const gpu = (await gpuOut.data()) as Float32Array;
    let worst = 0;
    for (let i = 0; i < cpu.length; i++) worst = Math.max(worst, Math.abs(cpu[i] - gpu[i]));
    expect(worst).toBeLessThan(1e-4); // float32 pixels in [0, 1]: rounding of the bilinear and blur sums
  });
});
