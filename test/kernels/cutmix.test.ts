// sampleCutmix / cutmix / cutmixTargets: a per-sample torch loop as the reference, pixel
// counts for λ, seeded reproducibility, value and argument errors.
import { describe, expect, it } from 'vitest';
import { cuda, Generator, kernels, type Tensor, tensor } from '../../lib/index.js';
import { maxRelError, torchReference, type RefArray } from '../support/torch-reference.js';
import { countNaN, expectError, FLOAT_DTYPES, int64, numbers, poisoned, poisonedOn, ref, refOf, seeded } from '../support/kernel-checks.js';

type Mode = 'new' | 'out' | 'inplace';
// [n, ..., h, w]: odd sizes, batch 1, rank 3 and rank 5.
const SHAPES = [[1, 3, 5, 7], [6, 3, 8, 8], [5, 7, 6], [4, 2, 3, 9, 11], [8, 1, 32, 32]];
const MODES: Mode[] = ['new', 'out', 'inplace'];

const REFERENCE = `
for i in range(__COUNT__):
    x, perm, boxes = inp[f'x{i}'], inp[f'perm{i}'], inp[f'boxes{i}']
    y = x.clone()
    for s in range(x.shape[0]):
        y0, x0, y1, x1 = boxes[s].tolist()
        y[s, ..., y0:y1, x0:x1] = x[perm[s], ..., y0:y1, x0:x1]
    out[f'y{i}'] = y
`;

async function mix(x: Tensor, layout: { perm: Tensor; boxes: Tensor }, mode: Mode): Promise<Tensor> {
  if (mode === 'inplace') {
    const r = await kernels.cutmix(x, { ...layout, inplace: true });
    expect(r).toBe(x);
    return r;
  }
  if (mode === 'out') {
    const out = await poisonedOn(x.shape, x.dtype, x.device);
    expect(await kernels.cutmix(x, { ...layout, out })).toBe(out);
    return out;
  }
  return kernels.cutmix(x, layout);
}

// A layout with a fixed point (sample 0 its own partner) and an empty box mixed in.
async function layoutFor(shape: number[], seed: number) {
  const [n, h, w] = [shape[0], shape[shape.length - 2], shape[shape.length - 1]];
  const s = await kernels.sampleCutmix(n, h, w, { generator: new Generator(seed) });
  const perm = await numbers(s.perm);
  const boxes = await numbers(s.boxes);
  if (n > 2) {
    const j = perm.indexOf(0);
    [perm[0], perm[j]] = [perm[j], perm[0]];
    boxes.splice(4, 4, 1, 1, 1, 3);
  }
  return { perm: int64(perm), boxes: int64(boxes, [n, 4]) };
}

describe('cutmix', () => {
  for (const dtype of FLOAT_DTYPES) {
    it(`equals a per-sample torch loop for odd shapes, batch 1, ranks 3-5, new/out/inplace (${dtype})`, async () => {
      const refs: Record<string, RefArray> = {};
      const ours: Float64Array[] = [];
      let i = 0;
      for (const shape of SHAPES) {
        for (const mode of MODES) {
          const x = await seeded(shape, dtype, 40 + i);
          const layout = await layoutFor(shape, 70 + i);
          Object.assign(refs, { [`x${i}`]: ref(x.a, shape), [`perm${i}`]: await refOf(layout.perm), [`boxes${i}`]: await refOf(layout.boxes) });
          const y = Float64Array.from(await (await mix(x.t, layout, mode)).data());
          expect(countNaN(y)).toBe(0);
          ours.push(y);
          i++;
        }
      }
      const expected = torchReference(REFERENCE.replace('__COUNT__', String(i)), refs);
      for (let k = 0; k < i; k++) expect(maxRelError(ours[k], expected[`y${k}`].data), `case ${k}`).toBe(0);
    });
  }

  it('the fraction of pixels that stay image i is exactly λ_i (pixels counted from the output)', async () => {
    const [n, c, h, w] = [16, 2, 13, 17];
    const s = await kernels.sampleCutmix(n, h, w, { generator: new Generator(21) });
    const a = new Float32Array(n * c * h * w);
    for (let i = 0; i < a.length; i++) a[i] = Math.floor(i / (c * h * w)); // image i is all i
    const y = await (await kernels.cutmix(tensor(a, [n, c, h, w]), s)).data();
    const lambda = await numbers(s.lambda);
    const perm = await numbers(s.perm);
    const boxes = await numbers(s.boxes);
    for (let i = 0; i < n; i++) {
      const area = (boxes[4 * i + 2] - boxes[4 * i]) * (boxes[4 * i + 3] - boxes[4 * i + 1]);
      expect(lambda[i]).toBe(1 - area / (h * w));
      if (perm[i] === i) continue;
      let own = 0;
      for (let k = 0; k < c * h * w; k++) if (y[i * c * h * w + k] === i) own++;
      expect(own).toBe(c * (h * w - area));
      expect(Math.abs(own / (c * h * w) - lambda[i])).toBeLessThan(1e-15);
    }
  });
});

describe('sampleCutmix', () => {
  it('is reproducible from a seed, returns valid boxes and a permutation', async () => {
    const draw = async (seed: number) => {
      const s = await kernels.sampleCutmix(64, 32, 24, { alpha: 1, generator: new Generator(seed) });
      expect(s.boxes.dtype).toBe('int64');
      expect(s.perm.dtype).toBe('int64');
      expect(s.lambda.dtype).toBe('float64');
      return { boxes: await numbers(s.boxes), perm: await numbers(s.perm), lambda: await numbers(s.lambda) };
    };
    const a = await draw(1), b = await draw(1), c = await draw(2);
    expect(a).toEqual(b);
    expect(a.boxes).not.toEqual(c.boxes);
    expect([...a.perm].sort((x, y) => x - y)).toEqual([...Array(64).keys()]);
    for (let i = 0; i < 64; i++) {
      const [y0, x0, y1, x1] = a.boxes.slice(4 * i, 4 * i + 4);
      expect(0 <= y0 && y0 <= y1 && y1 <= 32 && 0 <= x0 && x0 <= x1 && x1 <= 24).toBe(true);
      expect(a.lambda[i]).toBe(1 - ((y1 - y0) * (x1 - x0)) / (32 * 24));
    }
  });

  it('λ follows Beta(alpha, alpha) before clipping: mean of the drawn boxes is near its expectation', async () => {
    // Unclipped area fraction is (1 − λ) up to flooring; with clipping λ only grows, so the
    // mean visible fraction lies between E[λ] = 0.5 and 1, and a large alpha concentrates it.
    const s = await kernels.sampleCutmix(4000, 64, 64, { alpha: 1, generator: new Generator(4) });
    const l = await numbers(s.lambda);
    const mean = l.reduce((x, y) => x + y, 0) / l.length;
    expect(mean).toBeGreaterThan(0.5);
    expect(mean).toBeLessThan(0.85);
    expect(Math.min(...l)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...l)).toBeLessThanOrEqual(1);
  });

  it('rejects bad arguments', async () => {
    await expectError(() => kernels.sampleCutmix(-1, 4, 4), RangeError, /n must be/);
    await expectError(() => kernels.sampleCutmix(2, 0, 4), RangeError, /h must be/);
    await expectError(() => kernels.sampleCutmix(2, 4, 4.5), RangeError, /w must be/);
    await expectError(() => kernels.sampleCutmix(2, 4, 4, { alpha: 0 }), RangeError, /options\.alpha/);
    await expectError(() => kernels.sampleCutmix(2, 4, 4, { alpha: NaN }), RangeError, /options\.alpha/);
  });
});

describe('cutmix errors', () => {
  it('rejects bad perm, boxes, shapes and dtypes naming the argument', async () => {
    const x = await seeded([3, 2, 4, 5], 'float32', 3);
    const perm = int64([2, 0, 1]);
    const boxes = int64([0, 0, 2, 2, 1, 1, 4, 5, 0, 2, 3, 3], [3, 4]);
    await expectError(() => kernels.cutmix(x.t, { perm: int64([0, 0, 1]), boxes }), RangeError, /perm must be a permutation/);
    await expectError(() => kernels.cutmix(x.t, { perm: int64([0, 1, 3]), boxes }), RangeError, /perm must be a permutation/);
    await expectError(() => kernels.cutmix(x.t, { perm, boxes: int64([0, 0, 2, 2, 1, 1, 5, 5, 0, 2, 3, 3], [3, 4]) }), RangeError, /boxes\[1\]/);
    await expectError(() => kernels.cutmix(x.t, { perm, boxes: int64([2, 0, 1, 2, 1, 1, 4, 5, 0, 2, 3, 3], [3, 4]) }), RangeError, /boxes\[0\]/);
    await expectError(() => kernels.cutmix(x.t, { perm: int64([0, 1]), boxes }), RangeError, /^cutmix: options\.perm must be a Tensor of shape \[3\], got a Tensor of shape \[2\] \(int64, cpu\)$/);
    await expectError(() => kernels.cutmix(x.t, { perm, boxes: int64([0, 0, 2, 2], [1, 4]) }), RangeError, /^cutmix: options\.boxes must be a Tensor of shape \[3, 4\], got a Tensor of shape \[1, 4\]/);
    await expectError(() => kernels.cutmix(x.t, { perm: tensor(new Int32Array([2, 0, 1]), [3]), boxes }), TypeError, /^cutmix: options\.perm must be an int64 Tensor, got a Tensor of shape \[3\] \(int32, cpu\)$/);
    await expectError(() => kernels.cutmix(x.t, { boxes } as never), TypeError, /options\.perm/);
    const flat = await seeded([3, 5], 'float32', 4);
    await expectError(() => kernels.cutmix(flat.t, { perm, boxes }), RangeError, /^cutmix: x must be a Tensor of at least 3 dimension\(s\) \(dim 0 = batch\), got a Tensor of shape \[3, 5\]/);
    await expectError(() => kernels.cutmix(x.t, { perm, boxes, out: poisoned([3, 2, 4, 5], 'float64') }), TypeError, /^cutmix: options\.out must be a Tensor with x's dtype \(float32\), got a Tensor of shape \[3, 2, 4, 5\] \(float64, cpu\)$/);
    await expectError(() => kernels.cutmix(tensor(new Int32Array(60), [3, 2, 2, 5]), { perm, boxes }), TypeError, /^cutmix: x must be a float32, float64, float16 or bfloat16 Tensor, got a Tensor of shape \[3, 2, 2, 5\] \(int32, cpu\)$/);
  });
});

describe('cutmixTargets', () => {
  const REF = `
lam, perm = inp['lam'], inp['perm']
for name, cols in (('plain', torch.arange(lam.shape[0])), ('cols', inp['cols'])):
    t = torch.zeros(lam.shape[0], __M__, dtype=torch.float64)
    for i in range(lam.shape[0]):
        t[i, cols[i]] += lam[i]
        t[i, cols[perm[i]]] += 1 - lam[i]
    out[name] = t
`;
  it('equals a torch loop, with and without columns; a fixed point puts 1 on one column', async () => {
    const n = 9, m = 12;
    const s = await kernels.sampleCutmix(n, 16, 16, { generator: new Generator(8) });
    const perm = await numbers(s.perm);
    perm[perm.indexOf(3)] = perm[3];
    perm[3] = 3; // sample 3 is its own partner
    const permT = int64(perm);
    const cols = int64([11, 0, 5, 5, 2, 9, 1, 7, 3]); // repeated column 5: samples 2 and 3 share it
    const expected = torchReference(REF.replace('__M__', String(m)), { lam: await refOf(s.lambda), perm: await refOf(permT), cols: await refOf(cols) });
    const plain = await (await kernels.cutmixTargets(s.lambda, permT, m)).data();
    const withCols = await (await kernels.cutmixTargets(s.lambda, permT, m, { columns: cols })).data();
    expect(maxRelError(plain, expected.plain.data)).toBeLessThan(1e-15);
    expect(maxRelError(withCols, expected.cols.data)).toBeLessThan(1e-15);
    expect(plain[3 * m + 3]).toBe(1);
    for (let i = 0; i < n; i++) expect(Math.abs(plain.slice(i * m, (i + 1) * m).reduce((a, b) => a + Number(b), 0) - 1)).toBeLessThan(1e-15);
  });

  it('rejects bad arguments', async () => {
    const lam = tensor(Float64Array.from([0.5, 0.25]), [2]);
    await expectError(() => kernels.cutmixTargets(lam, int64([0, 0]), 2), RangeError, /perm must be a permutation/);
    await expectError(() => kernels.cutmixTargets(lam, int64([0, 1, 2]), 3), RangeError, /^cutmixTargets: perm must be a Tensor of shape \[2\], got/);
    await expectError(() => kernels.cutmixTargets(lam, int64([1, 0]), 1), RangeError, /numColumns must be >= n/);
    await expectError(() => kernels.cutmixTargets(lam, int64([1, 0]), 0), RangeError, /numColumns/);
    await expectError(() => kernels.cutmixTargets(lam, int64([1, 0]), 4, { columns: int64([0, 4]) }), RangeError, /column must be in \[0, 4\)/);
    await expectError(() => kernels.cutmixTargets(lam, int64([1, 0]), 4, { columns: int64([0]) }), RangeError, /^cutmixTargets: options\.columns must be a Tensor of shape \[2\], got/);
  });
});

describe('cutmix on CUDA', () => {
  const skip = !cuda.isAvailable();
  for (const dtype of FLOAT_DTYPES) {
    it.skipIf(skip)(`equals the CPU result in every mode, index tensors on cpu or cuda (${dtype}) (skipped when no CUDA device: needs a GPU)`, async () => {
      let i = 0;
      for (const shape of SHAPES) {
        for (const mode of MODES) {
          const x = await seeded(shape, dtype, 140 + i);
          const layout = await layoutFor(shape, 170 + i);
          const cpu = await (await kernels.cutmix(x.t, layout)).data();
          const onGpu = i % 2 ? { perm: await layout.perm.to('cuda'), boxes: await layout.boxes.to('cuda') } : layout;
          const y = await mix(await x.t.to('cuda'), onGpu, mode);
          expect(y.device).toBe('cuda:0');
          const values = await y.data();
          expect(countNaN(values)).toBe(0);
          expect(maxRelError(values, cpu), `case ${i}`).toBe(0);
          i++;
        }
      }
      const lam = await (await kernels.sampleCutmix(4, 8, 8, { generator: new Generator(1) })).lambda.to('cuda');
      const t = await kernels.cutmixTargets(lam, await int64([1, 0, 3, 2]).to('cuda'), 4);
      expect(t.device).toBe('cuda:0');
    });
  }
});
