import { describe, expect, it } from 'vitest';
import { data, liveTensorCount, scope } from '../../lib/index.js';
import type { data as D } from '../../lib/index.js';

const { toTensor } = data;

function batchOf(n: number, c: number, h: number, w: number): D.ImageBatch {
  const images = Uint8Array.from({ length: n * c * h * w }, (_, i) => (i * 37 + 11) % 256);
  const labels = Int32Array.from({ length: n }, (_, i) => (i % 3 === 2 ? -1 : i));
  return { images, labels, shape: [n, c, h, w] };
}

describe('toTensor', () => {
  it('copies images to uint8 [n,C,H,W] and labels to int64 [n], for odd shapes and a batch of 1', async () => {
    for (const [n, c, h, w] of [[1, 3, 5, 7], [4, 1, 28, 28], [3, 3, 2, 1]] as const) {
      const b = batchOf(n, c, h, w);
      const t = toTensor(b);
      expect(t.images.shape).toEqual([n, c, h, w]);
      expect(t.images.dtype).toBe('uint8');
      expect(t.labels.shape).toEqual([n]);
      expect(t.labels.dtype).toBe('int64');
      expect(await t.images.data()).toEqual(b.images);
      expect(Array.from(await t.labels.data(), Number)).toEqual([...b.labels]); // -1 survives
      t.images.dispose();
      t.labels.dispose();
    }
  });

  it('copies: changing the batch afterwards does not change the tensors', async () => {
    const b = batchOf(2, 1, 2, 2);
    const expected = b.images.slice();
    const t = toTensor(b, { keep: true });
    b.images.fill(0);
    expect(await t.images.data()).toEqual(expected);
    t.images.dispose();
    t.labels.dispose();
  });

  it('belongs to the enclosing scope, or to the caller with keep', async () => {
    const baseline = liveTensorCount();
    await scope(() => {
      toTensor(batchOf(2, 1, 2, 2));
    });
    expect(liveTensorCount()).toBe(baseline);
    const kept = await scope(() => toTensor(batchOf(2, 1, 2, 2), { keep: true }));
    expect(liveTensorCount()).toBe(baseline + 2);
    kept.images.dispose();
    kept.labels.dispose();
    expect(liveTensorCount()).toBe(baseline);
  });

  it('rejects malformed batches naming the field', () => {
    const b = batchOf(2, 1, 2, 2);
    const baseline = liveTensorCount();
    expect(() => toTensor(null as unknown as D.ImageBatch)).toThrow(TypeError);
    expect(() => toTensor({ ...b, images: [1, 2] as unknown as Uint8Array })).toThrow(/batch\.images/);
    expect(() => toTensor({ ...b, labels: new Float32Array(2) as unknown as Int32Array })).toThrow(/batch\.labels/);
    expect(() => toTensor({ ...b, shape: [2, 1, 2] as unknown as [number, number, number, number] })).toThrow(/batch\.shape/);
    expect(() => toTensor({ ...b, shape: [2, 1, 2, -2] })).toThrow(TypeError);
    expect(() => toTensor({ ...b, shape: [2, 1, 2, 3] })).toThrow(RangeError);
    expect(() => toTensor({ ...b, labels: new Int32Array(3) })).toThrow(/batch\.labels/);
    expect(liveTensorCount()).toBe(baseline);
  });
});
