// momentumUpdate / copyBuffers: whole parameter lists against the torch loop
// p.mul_(m).add_(q, alpha=1 - m), the analytic ends m = 0 and m = 1, errors.
import { describe, expect, it } from 'vitest';
import { cuda, Generator, kernels, type Tensor, tensor } from '../../lib/index.js';
import { maxRelError, torchReference, type RefArray } from '../support/torch-reference.js';
import { expectError, seeded, tolerance } from '../support/kernel-checks.js';

// Odd sizes, a scalar-like [1], and tensors above the 64Ki-element chunk (several work items),
// in both dtypes within one list.
const LIST: Array<{ shape: number[]; dtype: 'float32' | 'float64' }> = [
  { shape: [64, 3, 7, 7], dtype: 'float32' },
  { shape: [1], dtype: 'float32' },
  { shape: [17], dtype: 'float64' },
  { shape: [300, 301], dtype: 'float32' },
  { shape: [3, 5, 7], dtype: 'float64' },
  { shape: [131073], dtype: 'float64' },
  { shape: [10, 512], dtype: 'float32' },
];

async function makeList(seed: number, device: 'cpu' | 'cuda' = 'cpu') {
  const targets: Tensor[] = [], sources: Tensor[] = [];
  const refs: Record<string, RefArray> = {};
  for (const [i, p] of LIST.entries()) {
    const t = await seeded(p.shape, p.dtype, seed + 2 * i, -1, 1);
    const s = await seeded(p.shape, p.dtype, seed + 2 * i + 1, -1, 1);
    refs[`t${i}`] = { data: t.a, shape: p.shape };
    refs[`s${i}`] = { data: s.a, shape: p.shape };
    targets.push(device === 'cpu' ? t.t : await t.t.to(device));
    sources.push(device === 'cpu' ? s.t : await s.t.to(device));
  }
  return { targets, sources, refs };
}

const REFERENCE = `
for i in range(__COUNT__):
    p, q = inp[f't{i}'], inp[f's{i}']
    p.mul_(__M__).add_(q, alpha=1 - __M__)
    out[f'y{i}'] = p
`;

describe('momentumUpdate', () => {
  it('equals the torch loop p.mul_(m).add_(q, alpha=1-m) over a mixed list', async () => {
    const m = 0.99;
    const { targets, sources, refs } = await makeList(1);
    await kernels.momentumUpdate(targets, sources, m);
    const expected = torchReference(REFERENCE.replace('__COUNT__', String(LIST.length)).replaceAll('__M__', String(m)), refs);
    for (const [i, t] of targets.entries()) {
      expect(maxRelError(await t.data(), expected[`y${i}`].data, 1e-3), `tensor ${i}`).toBeLessThan(tolerance(LIST[i].dtype));
    }
  });

  it('m = 0 copies the source and m = 1 keeps the target, exactly; sources are untouched', async () => {
    const a = await makeList(10);
    const before = await Promise.all(a.sources.map((s) => s.data()));
    const kept = await Promise.all(a.targets.map((t) => t.data()));
    await kernels.momentumUpdate(a.targets, a.sources, 1);
    for (const [i, t] of a.targets.entries()) expect(Array.from(await t.data())).toEqual(Array.from(kept[i]));
    await kernels.momentumUpdate(a.targets, a.sources, 0);
    for (const [i, t] of a.targets.entries()) expect(Array.from(await t.data())).toEqual(Array.from(before[i]));
    for (const [i, s] of a.sources.entries()) expect(Array.from(await s.data())).toEqual(Array.from(before[i]));
  });

  it('an empty list is a no-op', async () => {
    await expect(kernels.momentumUpdate([], [], 0.5)).resolves.toBeUndefined();
  });

  it('rejects mismatched lists, shapes, dtypes and a bad m, naming the argument', async () => {
    const a = tensor(new Float32Array(6), [2, 3]);
    const b = tensor(new Float32Array(6), [3, 2]);
    const d = tensor(new Float64Array(6), [2, 3]);
    await expectError(() => kernels.momentumUpdate([a, a], [a], 0.5), RangeError, /same length/);
    await expectError(() => kernels.momentumUpdate([a], [b], 0.5), RangeError, /^momentumUpdate: source\[0\] must be a Tensor with target\[0\]'s shape \[2, 3\], got a Tensor of shape \[3, 2\]/);
    await expectError(() => kernels.momentumUpdate([a], [d], 0.5), TypeError, /^momentumUpdate: source\[0\] must be a Tensor with target\[0\]'s dtype \(float32\)/);
    await expectError(() => kernels.momentumUpdate([a], [a], 1.5), RangeError, /m must be a number in \[0, 1\]/);
    await expectError(() => kernels.momentumUpdate([a], [a], -0.1), RangeError, /m must be/);
    await expectError(() => kernels.momentumUpdate([a], [a], NaN), RangeError, /m must be/);
    await expectError(() => kernels.momentumUpdate([tensor(new Int32Array(2), [2])], [tensor(new Int32Array(2), [2])], 0.5), TypeError, /^momentumUpdate: target\[0\] must be a float32 or float64 Tensor, got a Tensor of shape \[2\] \(int32, cpu\)$/);
    await expectError(() => kernels.momentumUpdate([a, 3 as never], [a, a], 0.5), TypeError, /target\[1\] must be a Tensor/);
    // Handles are recognised by the binding itself: another native object (a Generator), an
    // object whose prototype is a real handle and a disposed tensor are refused by position.
    await expectError(() => kernels.momentumUpdate([a, new Generator(1) as never], [a, a], 0.5), TypeError, /^momentumUpdate: target\[1\] must be a Tensor, got an object$/);
    await expectError(() => kernels.momentumUpdate([a, a], [a, Object.create(a.handle) as never], 0.5), TypeError, /^momentumUpdate: source\[1\] must be a Tensor, got an object$/);
    const gone = tensor(new Float32Array(6), [2, 3]);
    gone.dispose();
    await expectError(() => kernels.momentumUpdate([a, a, gone], [a, a, a], 0.5), Error, /^momentumUpdate: target\[2\] was disposed$/);
    // Bad arguments reject (never a synchronous throw), and not an array is the binding's own
    // message (the one vocabulary), saying what was given.
    for (const call of [() => kernels.momentumUpdate('x' as never, [a], 0.5), () => kernels.copyBuffers([a], null as never), () => kernels.enqueue('q' as never, a, 0)]) {
      let result: unknown;
      expect(() => (result = call())).not.toThrow();
      expect(result).toBeInstanceOf(Promise);
      await expect(result).rejects.toThrow(TypeError);
    }
    await expectError(() => kernels.momentumUpdate('x' as never, [a], 0.5), TypeError, /^momentumUpdate: target must be an array of Tensors, got 'x'$/);
    await expectError(() => kernels.copyBuffers([a], null as never), TypeError, /^copyBuffers: source must be an array of Tensors, got null$/);
    await expectError(() => kernels.momentumUpdate(a as never, [a], 0.5), TypeError, /target must be an array/);
  });
});

describe('copyBuffers', () => {
  it('copies every pair exactly (any dtype) and rejects mismatches', async () => {
    const t = [tensor(new Float32Array(5), [5]), tensor(new BigInt64Array(2), [2])];
    const s = [(await seeded([5], 'float32', 3)).t, tensor(BigInt64Array.from([7n, -3n]), [2])];
    await kernels.copyBuffers(t, s);
    expect(Array.from(await t[0].data())).toEqual(Array.from(await s[0].data()));
    expect(Array.from(await t[1].data())).toEqual([7n, -3n]);
    await expectError(() => kernels.copyBuffers([t[0]], [s[1]]), RangeError, /^copyBuffers: source\[0\] must be a Tensor with target\[0\]'s shape/);
  });
});

describe('momentum on CUDA', () => {
  it.skipIf(!cuda.isAvailable())('multi-tensor update on cuda equals the CPU result, also past 120 tensors (skipped when no CUDA device: needs a GPU)', async () => {
    const cpu = await makeList(20);
    const gpu = await makeList(20, 'cuda');
    await kernels.momentumUpdate(cpu.targets, cpu.sources, 0.9);
    await kernels.momentumUpdate(gpu.targets, gpu.sources, 0.9);
    for (const [i, t] of gpu.targets.entries()) {
      expect(t.device).toBe('cuda:0');
      expect(maxRelError(await t.data(), await cpu.targets[i].data(), 1e-3)).toBeLessThan(tolerance(LIST[i].dtype));
    }
    // 250 small tensors: three launches of the 120-pair struct.
    const many = await Promise.all(Array.from({ length: 250 }, (_, i) => seeded([i + 1], 'float32', 1000 + i, -1, 1)));
    const src = await Promise.all(Array.from({ length: 250 }, (_, i) => seeded([i + 1], 'float32', 2000 + i, -1, 1)));
    const gt = await Promise.all(many.map((x) => x.t.to('cuda')));
    const gs = await Promise.all(src.map((x) => x.t.to('cuda')));
    await kernels.momentumUpdate(gt, gs, 0.5);
    await kernels.momentumUpdate(many.map((x) => x.t), src.map((x) => x.t), 0.5);
    for (let i = 0; i < 250; i++) expect(Array.from(await gt[i].data())).toEqual(Array.from(await many[i].t.data()));
    await expectError(() => kernels.momentumUpdate([gt[0]], [many[0].t], 0.5), TypeError, /^momentumUpdate: source\[0\] must be on target\[0\]'s device/);
  });
});
