// Helpers shared by the kernel tests: seeded inputs as Tensor + typed array, poisoned
// outputs, the reference-array view of a tensor, and error assertions.
import { expect } from 'vitest';
import { Generator, rand, randn, tensor, type Device, type DType, type Tensor } from '../../lib/index.js';
import { maxRelError, type RefArray } from './torch-reference.js';

export type FloatArray = Float32Array | Float64Array;

export function floatArray(dtype: 'float32' | 'float64', n: number): FloatArray {
  return dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
}

/** Uniform [lo, hi) values from a seeded generator, as a tensor and its values. */
export async function seeded(shape: number[], dtype: 'float32' | 'float64', seed: number, lo = 0, hi = 1): Promise<{ t: Tensor; a: FloatArray }> {
  const u = await rand(shape, { dtype: 'float64', generator: new Generator(seed) });
  const src = (await u.data()) as Float64Array;
  u.dispose();
  const a = floatArray(dtype, src.length);
  for (let i = 0; i < src.length; i++) a[i] = lo + (hi - lo) * src[i];
  return { t: tensor(a, shape, dtype), a };
}

/** A tensor filled with NaN: any element a kernel forgets to write stays NaN. */
export function poisoned(shape: number[], dtype: 'float32' | 'float64'): Tensor {
  const a = floatArray(dtype, shape.reduce((x, y) => x * y, 1)).fill(NaN);
  return tensor(a, shape, dtype);
}

/** poisoned() on any device. */
export async function poisonedOn(shape: number[], dtype: DType, device: Device = 'cpu'): Promise<Tensor> {
  const t = tensor(new Float64Array(shape.reduce((a, b) => a * b, 1)).fill(Number.NaN), shape, dtype);
  if (device === 'cpu') return t;
  const d = await t.to(device);
  t.dispose();
  return d;
}

/** Random rows at unit L2 norm (never zeros), seeded. */
export async function unitRows(shape: number[], dtype: DType, gen: Generator, device: Device = 'cpu'): Promise<Tensor> {
  const x = await randn(shape, { dtype, generator: gen, device });
  const n = await x.normalize(1);
  x.dispose();
  return n;
}

/** Relative error against the largest reference magnitude (for vectors with near-zero entries). */
export function normwiseError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(Number(expected[i])));
  return maxRelError(actual, expected, Math.max(scale, 1e-30));
}

export function ref(a: RefArray['data'], shape: number[]): RefArray {
  return { data: a, shape };
}

export async function refOf(t: Tensor): Promise<RefArray> {
  return { data: (await t.data()) as RefArray['data'], shape: t.shape };
}

export function int64(values: number[], shape = [values.length]): Tensor {
  return tensor(BigInt64Array.from(values.map(BigInt)), shape);
}

export async function numbers(t: Tensor): Promise<number[]> {
  return Array.from(await t.data(), Number);
}

export function countNaN(a: ArrayLike<number | bigint>): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (Number.isNaN(Number(a[i]))) n++;
  return n;
}

export const hasNaN = (a: ArrayLike<number | bigint>): boolean => countNaN(a) > 0;

/** fn() throws (synchronously, or by rejecting) an error of `kind` whose message matches `pattern`. */
export async function expectError(fn: () => unknown, kind: ErrorConstructor | TypeErrorConstructor | RangeErrorConstructor, pattern: RegExp): Promise<void> {
  let caught: unknown;
  try {
    await fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, `expected a ${kind.name} matching ${pattern}`).toBeInstanceOf(kind);
  expect((caught as Error).message).toMatch(pattern);
}

export const FLOAT_DTYPES: Array<'float32' | 'float64'> = ['float32', 'float64'];
/** Tolerance per dtype: float64 1e-6, float32 1e-5. */
export const tolerance = (dtype: DType | string) => (dtype === 'float64' ? 1e-6 : 1e-5);

/** Seeded uniform numbers in [0, 1) (mulberry32), for targets and other inputs built in JS. */
export function seededUniform(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One case of the loss tests (InfoNCE, cluster CE): hard targets, or soft ones of a kind. */
export interface LossCase {
  name: string;
  n: number;
  c: number;
  k: number;
  tau: number;
  soft?: 'cutmix' | 'dense';
}

