// Small helpers shared by the loss/clustering kernel tests (not a test file itself).
import { type Device, type DType, Generator, randn, type Tensor, tensor } from '../../lib/index.js';
import { maxRelError, type RefArray } from '../support/torch-reference.js';

/** Random rows at unit L2 norm (never zeros), seeded. */
export async function unitRows(shape: number[], dtype: DType, gen: Generator, device: Device = 'cpu'): Promise<Tensor> {
  const x = await randn(shape, { dtype, generator: gen, device });
  const n = await x.normalize(1);
  x.dispose();
  return n;
}

/** A tensor as a torchReference input. */
export async function asRef(t: Tensor): Promise<RefArray> {
  return { data: await t.data(), shape: t.shape };
}

/** A NaN-filled tensor to pass as `out`: any element left unwritten stays NaN. */
export async function poisoned(shape: number[], dtype: DType, device: Device = 'cpu'): Promise<Tensor> {
  const n = shape.reduce((a, b) => a * b, 1);
  const t = tensor(new Float64Array(n).fill(Number.NaN), shape, dtype);
  if (device === 'cpu') return t;
  const d = await t.to(device);
  t.dispose();
  return d;
}

/** Relative error against the largest reference magnitude (for vectors with near-zero entries). */
export function normwiseError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(Number(expected[i])));
  return maxRelError(actual, expected, Math.max(scale, 1e-30));
}

export function hasNaN(a: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; i++) if (Number.isNaN(Number(a[i]))) return true;
  return false;
}

/** Tolerance per dtype: float64 1e-6 (we reach ~1e-12), float32 1e-5. */
export const TOL: Record<string, number> = { float64: 1e-6, float32: 1e-5 };
