// pgdStep / pgdInit against PyTorch built from plain ops, plus analytic and error checks.
import { describe, expect, it } from 'vitest';
import { cuda, Generator, kernels, type Tensor, tensor, zeros } from '../../lib/index.js';
import { maxRelError, torchReference, type RefArray } from '../support/torch-reference.js';
import { countNaN, expectError, FLOAT_DTYPES, floatArray, poisoned, poisonedOn, ref, seeded, tolerance } from '../support/kernel-checks.js';

type Norm = 'linf' | 'l2';
type Mode = 'new' | 'out' | 'inplace';
interface Case {
  shape: number[];
  norm: Norm;
  eps: number;
  stepSize: number;
  min: number;
  max: number;
  mode: Mode;
}

const SHAPES = [[1, 3, 5, 7], [4, 3, 8, 8], [3, 17], [5], [2, 1, 33, 3]];
const CASES: Case[] = SHAPES.flatMap((shape, k) =>
  (['linf', 'l2'] as Norm[]).map((norm, j) => ({
    shape,
    norm,
    // L2 radii scale with sqrt(d) so some samples project and some don't.
    eps: norm === 'linf' ? 0.03 : 0.05 * Math.sqrt(shape.slice(1).reduce((a, b) => a * b, 1)),
    stepSize: norm === 'linf' ? 0.02 : 0.3,
    min: k === 2 ? -0.5 : 0,
    max: 1,
    mode: (['new', 'out', 'inplace'] as Mode[])[(k + j) % 3],
  })),
);

// The reference: plain torch ops (the prelude owns the names d, inp, out), exactly the formulas of the docs.
const REFERENCE = `
cases = __CASES__
for i, c in enumerate(cases):
    xa, xc, g = inp[f'xa{i}'], inp[f'xc{i}'], inp[f'g{i}']
    e, a, lo, hi = c['eps'], c['stepSize'], c['min'], c['max']
    if c['norm'] == 'linf':
        y = (xa + a * g.sign()).clamp(xc - e, xc + e).clamp(lo, hi)
    else:
        n = xa.shape[0]
        view = [n] + [1] * (xa.dim() - 1)
        gn = g.reshape(n, -1).norm(dim=1).clamp_min(1e-12).view(view)
        x = xa + a * (g / gn)
        delta = x - xc
        dn = delta.reshape(n, -1).norm(dim=1).view(view)
        f = torch.where(dn > e, e / dn, torch.ones_like(dn))
        y = (xc + delta * f).clamp(lo, hi)
    out[f'y{i}'] = y
`;

interface Inputs {
  xa: Tensor;
  xc: Tensor;
  g: Tensor;
  refs: Record<string, RefArray>;
}

// xClean uniform in [0, 1], xAdv = xClean + noise up to twice the radius (so projection and
// the [min, max] clamp both bite), grad standard-ish with a few exact zeros (sign 0).
async function inputs(c: Case, dtype: 'float32' | 'float64', seed: number, i: number): Promise<Inputs> {
  const xc = await seeded(c.shape, dtype, seed);
  const noise = await seeded(c.shape, dtype, seed + 1, -1, 1);
  const g = await seeded(c.shape, dtype, seed + 2, -1, 1);
  const d = c.shape.slice(1).reduce((a, b) => a * b, 1);
  const radius = c.norm === 'linf' ? 2 * c.eps : (2 * c.eps) / Math.sqrt(d);
  const xa = floatArray(dtype, xc.a.length);
  for (let k = 0; k < xa.length; k++) xa[k] = xc.a[k] + radius * noise.a[k];
  for (let k = 0; k < g.a.length; k += 7) g.a[k] = 0;
  noise.t.dispose();
  g.t.dispose();
  return {
    xa: tensor(xa, c.shape, dtype),
    xc: xc.t,
    g: tensor(g.a, c.shape, dtype),
    refs: { [`xa${i}`]: ref(xa, c.shape), [`xc${i}`]: ref(xc.a, c.shape), [`g${i}`]: ref(g.a, c.shape) },
  };
}

async function runCase(c: Case, x: Inputs): Promise<Tensor> {
  const opts = { eps: c.eps, stepSize: c.stepSize, norm: c.norm, min: c.min, max: c.max };
  if (c.mode === 'inplace') {
    const r = await kernels.pgdStep(x.xa, x.xc, x.g, { ...opts, inplace: true });
    expect(r).toBe(x.xa);
    return r;
  }
  if (c.mode === 'out') {
    const out = await poisonedOn(c.shape, x.xa.dtype, x.xa.device);
    const r = await kernels.pgdStep(x.xa, x.xc, x.g, { ...opts, out });
    expect(r).toBe(out);
    return r;
  }
  return kernels.pgdStep(x.xa, x.xc, x.g, opts);
}

describe('pgdStep', () => {
  for (const dtype of FLOAT_DTYPES) {
    it(`matches the torch reference for L∞ and L2, odd shapes, batch 1, new/out/inplace (${dtype})`, async () => {
      const refs: Record<string, RefArray> = {};
      const ours: Float64Array[] = [];
      for (const [i, c] of CASES.entries()) {
        const x = await inputs(c, dtype, 100 + 10 * i, i);
        Object.assign(refs, x.refs);
        const y = await runCase(c, x);
        const values = Float64Array.from(await y.data());
        expect(countNaN(values), `case ${i} left unwritten elements`).toBe(0);
        ours.push(values);
      }
      const expected = torchReference(REFERENCE.replace('__CASES__', JSON.stringify(CASES)), refs);
      for (const [i, c] of CASES.entries()) {
        expect(maxRelError(ours[i], expected[`y${i}`].data), `case ${i}: ${JSON.stringify(c)}`).toBeLessThan(tolerance(dtype));
      }
    });
  }

  it('L∞: the result lies in the eps-ball around xClean and in [min, max]', async () => {
    const shape = [3, 3, 9, 9];
    const x = await inputs({ shape, norm: 'linf', eps: 0.05, stepSize: 0.04, min: 0, max: 1, mode: 'new' }, 'float64', 7, 0);
    const y = (await (await kernels.pgdStep(x.xa, x.xc, x.g, { eps: 0.05, stepSize: 0.04 })).data()) as Float64Array;
    const xc = (await x.xc.data()) as Float64Array;
    let outside = 0;
    for (let k = 0; k < y.length; k++) if (!(Math.abs(y[k] - xc[k]) <= 0.05 + 1e-12 && y[k] >= 0 && y[k] <= 1)) outside++;
    expect(outside).toBe(0);
  });

  it('L2: a zero gradient is a zero step (no NaN): the result is xAdv projected onto the ball', async () => {
    const shape = [2, 4];
    const xc = tensor(new Float64Array(8).fill(0.5), shape);
    // sample 0 inside the ball (‖δ‖ = 0.02), sample 1 outside (‖δ‖ = 0.4 -> scaled to 0.1)
    const xa = tensor(Float64Array.from([0.51, 0.49, 0.51, 0.49, 0.7, 0.3, 0.7, 0.3]), shape);
    const g = await zeros(shape, { dtype: 'float64' });
    const y = (await (await kernels.pgdStep(xa, xc, g, { eps: 0.1, stepSize: 1, norm: 'l2' })).data()) as Float64Array;
    const expected = [0.51, 0.49, 0.51, 0.49, 0.55, 0.45, 0.55, 0.45];
    expect(maxRelError(y, expected)).toBeLessThan(1e-12);
  });

  it('rejects bad options with errors naming the argument', async () => {
    const a = await seeded([2, 3], 'float32', 1);
    const b = await seeded([2, 3], 'float32', 2);
    const g = await seeded([2, 3], 'float32', 3);
    const ok = { eps: 0.1, stepSize: 0.01 };
    await expectError(() => kernels.pgdStep(a.t, b.t, g.t, { ...ok, eps: -1 }), RangeError, /options\.eps/);
    await expectError(() => kernels.pgdStep(a.t, b.t, g.t, { ...ok, eps: NaN }), RangeError, /options\.eps/);
    await expectError(() => kernels.pgdStep(a.t, b.t, g.t, { ...ok, stepSize: Infinity }), RangeError, /options\.stepSize/);
    await expectError(() => kernels.pgdStep(a.t, b.t, g.t, { eps: 0.1 } as never), TypeError, /options\.stepSize/);
    await expectError(() => kernels.pgdStep(a.t, b.t, g.t, { ...ok, norm: 'l3' as never }), RangeError, /options\.norm/);
    await expectError(() => kernels.pgdStep(a.t, b.t, g.t, { ...ok, min: 1, max: 0 }), RangeError, /options\.min/);
    const wrongShape = await seeded([2, 4], 'float32', 4);
    await expectError(() => kernels.pgdStep(a.t, wrongShape.t, g.t, ok), RangeError, /^pgdStep: xClean must be a Tensor with xAdv's shape \[2, 3\], got a Tensor of shape \[2, 4\] \(float32, cpu\)$/);
    await expectError(() => kernels.pgdStep(a.t, b.t, wrongShape.t, ok), RangeError, /^pgdStep: grad must be a Tensor with xAdv's shape \[2, 3\]/);
    const f64 = await seeded([2, 3], 'float64', 5);
    await expectError(() => kernels.pgdStep(a.t, b.t, f64.t, ok), TypeError, /^pgdStep: grad must be a Tensor with xAdv's dtype \(float32\), got a Tensor of shape \[2, 3\] \(float64, cpu\)$/);
    await expectError(() => kernels.pgdStep(a.t, b.t, g.t, { ...ok, out: f64.t }), TypeError, /^pgdStep: options\.out must be a Tensor with xAdv's dtype \(float32\)/);
    await expectError(() => kernels.pgdStep(a.t, b.t, g.t, { ...ok, out: a.t, inplace: true }), TypeError, /options\.out or options\.inplace/);
    const ints = tensor(new Int32Array(6), [2, 3]);
    await expectError(() => kernels.pgdStep(ints, ints, ints, ok), TypeError, /^pgdStep: xAdv must be a float32 or float64 Tensor, got a Tensor of shape \[2, 3\] \(int32, cpu\)$/);
    await expectError(() => kernels.pgdStep(5 as never, b.t, g.t, ok), TypeError, /xAdv must be a Tensor/);
    const scalar = tensor(new Float32Array([1]), []);
    await expectError(() => kernels.pgdStep(scalar, scalar, scalar, ok), RangeError, /^pgdStep: xAdv must be a Tensor of at least 1 dimension\(s\) \(dim 0 = batch\), got a Tensor of shape \[\]/);
  });
});

describe('pgdInit', () => {
  it('is reproducible from a seed and differs across seeds', async () => {
    const x = await seeded([3, 3, 5, 5], 'float32', 11);
    for (const norm of ['linf', 'l2'] as Norm[]) {
      const a = await (await kernels.pgdInit(x.t, { eps: 0.1, norm, generator: new Generator(5) })).data();
      const b = await (await kernels.pgdInit(x.t, { eps: 0.1, norm, generator: new Generator(5) })).data();
      const c = await (await kernels.pgdInit(x.t, { eps: 0.1, norm, generator: new Generator(6) })).data();
      expect(Array.from(a)).toEqual(Array.from(b));
      expect(Array.from(a)).not.toEqual(Array.from(c));
    }
  });

  it('L∞: every start is in the ball and δ is uniform on [−eps, eps] (histogram)', async () => {
    const shape = [64, 3, 16, 16];
    const xc = tensor(new Float64Array(64 * 768).fill(0.5), shape);
    const out = poisoned(shape, 'float64');
    await kernels.pgdInit(xc, { eps: 0.2, generator: new Generator(3), out });
    const y = (await out.data()) as Float64Array;
    const bins = new Array(10).fill(0);
    let mean = 0;
    let outside = 0;
    for (const v of y) {
      const d = v - 0.5;
      if (!(Math.abs(d) <= 0.2 + 1e-12)) outside++;
      bins[Math.min(9, Math.floor(((d + 0.2) / 0.4) * 10))]++;
      mean += d / y.length;
    }
    expect(outside).toBe(0);
    for (const b of bins) expect(Math.abs(b / y.length - 0.1)).toBeLessThan(0.005);
    expect(Math.abs(mean)).toBeLessThan(0.002);
  });

  it('L2: every start is in the ball, radii follow P(r <= t·eps) = t^d, directions are centred', async () => {
    const n = 20000;
    const xc = tensor(new Float64Array(n * 3).fill(0.5), [n, 3]);
    const y = (await (await kernels.pgdInit(xc, { eps: 0.3, norm: 'l2', generator: new Generator(9) })).data()) as Float64Array;
    let inner = 0;
    let outside = 0;
    const mean = [0, 0, 0];
    for (let i = 0; i < n; i++) {
      const d = [y[3 * i] - 0.5, y[3 * i + 1] - 0.5, y[3 * i + 2] - 0.5];
      const r = Math.hypot(...d);
      if (!(r <= 0.3 * (1 + 1e-12))) outside++;
      if (r <= 0.15) inner++;
      for (let k = 0; k < 3; k++) mean[k] += d[k] / n;
    }
    expect(outside).toBe(0);
    expect(Math.abs(inner / n - 1 / 8)).toBeLessThan(0.01); // (1/2)^3
    for (const m of mean) expect(Math.abs(m)).toBeLessThan(0.005);
  });

  it('clamps to [min, max] and rejects bad options', async () => {
    const x = await seeded([4, 2, 3, 3], 'float32', 12);
    const y = await (await kernels.pgdInit(x.t, { eps: 0.5, generator: new Generator(1) })).data();
    expect(Array.from(y).filter((v) => !(v >= 0 && v <= 1))).toEqual([]);
    await expectError(() => kernels.pgdInit(x.t, { eps: -0.1 }), RangeError, /options\.eps/);
    await expectError(() => kernels.pgdInit(x.t, { eps: 0.1, generator: {} as never }), TypeError, /options\.generator/);
    await expectError(() => kernels.pgdInit(x.t, { eps: 0.1, out: poisoned([4, 2, 3], 'float32') }), RangeError, /^pgdInit: options\.out must be a Tensor with xClean's shape/);
  });
});

describe('pgd on CUDA', () => {
  const skip = !cuda.isAvailable();
  for (const dtype of FLOAT_DTYPES) {
    it.skipIf(skip)(`pgdStep on cuda equals the CPU result, every mode and norm (${dtype}) (skipped when no CUDA device: needs a GPU)`, async () => {
      for (const [i, c] of CASES.entries()) {
        const x = await inputs(c, dtype, 300 + 10 * i, i);
        const cpu = Float64Array.from(await (await kernels.pgdStep(x.xa, x.xc, x.g, { ...c, mode: undefined } as never)).data());
        const onGpu = { xa: await x.xa.to('cuda'), xc: await x.xc.to('cuda'), g: await x.g.to('cuda'), refs: {} };
        const y = await runCase(c, onGpu);
        expect(y.device).toBe('cuda:0');
        const values = Float64Array.from(await y.data());
        expect(countNaN(values)).toBe(0);
        expect(maxRelError(values, cpu), `case ${i}`).toBeLessThan(tolerance(dtype));
      }
    });
  }
  it.skipIf(skip)('pgdInit gives the same start on cuda as on the cpu for a seed, and device mismatches are TypeErrors (skipped when no CUDA device: needs a GPU)', async () => {
    const x = await seeded([2, 3, 4, 4], 'float64', 13);
    const gx = await x.t.to('cuda');
    for (const norm of ['linf', 'l2'] as Norm[]) {
      const a = await (await kernels.pgdInit(x.t, { eps: 0.1, norm, generator: new Generator(2) })).data();
      const b = await (await kernels.pgdInit(gx, { eps: 0.1, norm, generator: new Generator(2) })).data();
      expect(maxRelError(b, a)).toBeLessThan(1e-12);
    }
    await expectError(() => kernels.pgdStep(gx, x.t, gx, { eps: 0.1, stepSize: 0.1 }), TypeError, /^pgdStep: xClean must be on xAdv's device \(cuda:0\)/);
  });
});
