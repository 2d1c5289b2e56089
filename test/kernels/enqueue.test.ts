// enqueue: the MoCo ring buffer against a plain JS ring buffer, wrap-around, errors.
import { describe, expect, it } from 'vitest';
import { cuda, kernels, tensor, zeros } from '../../lib/index.js';
import { expectError, FLOAT_DTYPES, seeded } from '../support/kernel-checks.js';

// The reference: row by row, modulo K.
function referenceEnqueue(queue: Float64Array, c: number, keys: ArrayLike<number>, ptr: number): number {
  const k = queue.length / c, n = keys.length / c;
  for (let r = 0; r < n; r++) for (let j = 0; j < c; j++) queue[((ptr + r) % k) * c + j] = keys[r * c + j];
  return (ptr + n) % k;
}

describe('enqueue', () => {
  for (const dtype of FLOAT_DTYPES) {
    it(`matches a ring-buffer reference over many steps, K not divisible by N, N = K and N = 1 (${dtype})`, async () => {
      for (const [k, c, sizes] of [
        [10, 3, [4, 4, 4, 4, 1, 10, 7]],
        [7, 5, [7, 3, 7, 1, 6]],
        [1, 2, [1, 1]],
      ] as Array<[number, number, number[]]>) {
        const queue = await zeros([k, c], { dtype });
        const expected = new Float64Array(k * c);
        let ptr = 0;
        for (const [step, n] of sizes.entries()) {
          const keys = await seeded([n, c], dtype, 100 * k + step, -1, 1);
          const next = await kernels.enqueue(queue, keys.t, ptr);
          const want = referenceEnqueue(expected, c, keys.a, ptr);
          expect(next).toBe(want);
          expect(Array.from(await queue.data())).toEqual(Array.from(expected));
          ptr = next;
        }
      }
    });
  }

  it('rejects a bad pointer, too many keys or a wrong C (RangeError) and a dtype mismatch (TypeError), naming them', async () => {
    const queue = await zeros([6, 4]);
    const keys = await zeros([2, 4]);
    await expectError(() => kernels.enqueue(queue, keys, -1), RangeError, /ptr must be an integer in \[0, 5\]/);
    await expectError(() => kernels.enqueue(queue, keys, 6), RangeError, /ptr must be an integer in \[0, 5\]/);
    await expectError(() => kernels.enqueue(queue, keys, 1.5), RangeError, /ptr/);
    await expectError(() => kernels.enqueue(queue, keys, NaN), RangeError, /ptr/);
    await expectError(async () => kernels.enqueue(queue, await zeros([7, 4]), 0), RangeError, /^enqueue: keys must be a Tensor of at most K = 6 rows \(the queue's\), got a Tensor of shape \[7, 4\]/);
    await expectError(async () => kernels.enqueue(queue, await zeros([2, 3]), 0), RangeError, /^enqueue: keys must be a Tensor of shape \[N, C\], C = 4, got a Tensor of shape \[2, 3\]/);
    await expectError(async () => kernels.enqueue(queue, await zeros([2, 4], { dtype: 'float64' }), 0), TypeError, /^enqueue: keys must be a Tensor with queue's dtype \(float32\), got a Tensor of shape \[2, 4\] \(float64, cpu\)$/);
    await expectError(() => kernels.enqueue(queue, tensor(new Float32Array(4), [4]), 0), RangeError, /^enqueue: keys must be a Tensor of shape \[N, C\], C = 4, got a Tensor of shape \[4\]/);
    await expectError(async () => kernels.enqueue(await zeros([0, 4]), keys, 0), RangeError, /^enqueue: queue must be a Tensor with K \(rows\) >= 1, got a Tensor of shape \[0, 4\]/);
    await expectError(() => kernels.enqueue('q' as never, keys, 0), TypeError, /queue must be a Tensor/);
  });

  it.skipIf(!cuda.isAvailable())('works on cuda with wrap-around and rejects a device mismatch (skipped when no CUDA device: needs a GPU)', async () => {
    const queue = await zeros([10, 3], { device: 'cuda' });
    const expected = new Float64Array(30);
    let ptr = 0;
    for (let step = 0; step < 5; step++) {
      const keys = await seeded([4, 3], 'float32', step);
      const next = await kernels.enqueue(queue, await keys.t.to('cuda'), ptr);
      expect(next).toBe(referenceEnqueue(expected, 3, keys.a, ptr));
      ptr = next;
    }
    expect(Array.from(await queue.data())).toEqual(Array.from(Float32Array.from(expected)));
    await expectError(() => kernels.enqueue(queue, tensor(new Float32Array(6), [2, 3]), 0), TypeError, /^enqueue: keys must be on queue's device \(cuda:0\)/);
  });
});
