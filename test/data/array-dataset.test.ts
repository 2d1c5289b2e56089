import { describe, expect, it } from 'vitest';
import { data } from '../../lib/index.js';

const { fromArrays } = data;

describe('fromArrays', () => {
  const images = Uint8Array.from({ length: 5 * 3 * 2 * 2 }, (_, i) => i);
  const ds = fromArrays({ images, shape: [3, 2, 2], labels: [0, 2, 1, 2, 0], classes: ['a', 'b', 'c'], name: 'five' });

  it('describes the images and copies the ones asked for, in the order asked, repeats allowed', async () => {
    expect([ds.name, ds.size, ds.channels, ds.height, ds.width]).toEqual(['five', 5, 3, 2, 2]);
    expect(ds.classes).toEqual(['a', 'b', 'c']);
    const b = await ds.batch([4, 1, 4]);
    expect(b.shape).toEqual([3, 3, 2, 2]);
    expect([...b.images]).toEqual([...images.subarray(48, 60), ...images.subarray(12, 24), ...images.subarray(48, 60)]);
    expect([...b.labels]).toEqual([0, 2, 0]);
    b.images[0] = 255; // the batch is the caller's
    expect(images[48]).toBe(48);
    expect((await ds.batch(Uint32Array.of(0))).images[0]).toBe(0);
  });

  it('is unlabeled without labels, and names classes by number when not given', async () => {
    const unlabeled = fromArrays({ images, shape: [3, 2, 2] });
    expect(unlabeled.classes).toBeNull();
    expect([...(await unlabeled.batch([0, 3])).labels]).toEqual([-1, -1]);
    expect(fromArrays({ images, shape: [3, 2, 2], labels: [0, 0, 3, 1, 1] }).classes).toEqual(['0', '1', '2', '3']);
  });

  it('rejects bad indices: empty, out of range, fractional, wrong types', async () => {
    await expect(ds.batch([])).rejects.toThrow(RangeError);
    await expect(ds.batch([])).rejects.toThrow(/indices must not be empty/);
    await expect(ds.batch([5])).rejects.toThrow(/indices\[0\].*\[0, 4\].*5/);
    await expect(ds.batch([1, -1])).rejects.toThrow(/indices\[1\]/);
    await expect(ds.batch([0.5])).rejects.toThrow(RangeError);
    await expect(ds.batch(['1'] as unknown as number[])).rejects.toThrow(TypeError);
    await expect(ds.batch(3 as unknown as number[])).rejects.toThrow(/indices/);
    await expect(ds.batch(null as unknown as number[])).rejects.toThrow(TypeError);
  });

  it('rejects malformed sources naming the field', () => {
    expect(() => fromArrays({ images: [1] as unknown as Uint8Array, shape: [1, 1, 1] })).toThrow(/source\.images/);
    expect(() => fromArrays({ images, shape: [3, 2, -2] })).toThrow(RangeError);
    expect(() => fromArrays({ images, shape: [3, 2, -2] })).toThrow(/source\.shape\[2\]/);
    expect(() => fromArrays({ images, shape: [7, 1, 1] })).toThrow(/source\.images.*multiple of 7/);
    expect(() => fromArrays({ images: new Uint8Array(0), shape: [1, 1, 1] })).toThrow(/non-empty/);
    expect(() => fromArrays({ images, shape: [3, 2, 2], labels: [0, 1] })).toThrow(/source\.labels/);
    expect(() => fromArrays({ images, shape: [3, 2, 2], labels: [0, 1, 2, 3, -1] })).toThrow(/source\.labels\[4\]/);
    expect(() => fromArrays({ images, shape: [3, 2, 2], labels: [0, 1, 2, 3, 0], classes: ['a', 'b'] })).toThrow(/source\.labels/);
    expect(() => fromArrays({ images, shape: [3, 2, 2], classes: ['a'] })).toThrow(/source\.classes/);
  });
});
