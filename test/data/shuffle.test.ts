import { describe, expect, it } from 'vitest';
import { data } from '../../lib/index.js';

const { epochOrder, Random } = data;

function isPermutation(order: Uint32Array, n: number): boolean {
  if (order.length !== n) return false;
  const seen = new Uint8Array(n);
  for (const i of order) {
    if (i >= n || seen[i]) return false;
    seen[i] = 1;
  }
  return true;
}

describe('epochOrder', () => {
  it('is a permutation for odd, tiny and larger sizes', () => {
    for (const n of [0, 1, 2, 7, 1000, 50001]) expect(isPermutation(epochOrder(n, 1234, 3), n)).toBe(true);
  });

  it('depends only on (size, seed, epoch)', () => {
    expect(epochOrder(5000, 42, 7)).toEqual(epochOrder(5000, 42, 7));
    expect(epochOrder(5000, 42, 7)).not.toEqual(epochOrder(5000, 42, 8));
    expect(epochOrder(5000, 42, 7)).not.toEqual(epochOrder(5000, 43, 7));
    // seed and epoch are not interchangeable (the pair is hashed, not summed)
    expect(epochOrder(5000, 7, 42)).not.toEqual(epochOrder(5000, 42, 7));
    expect(epochOrder(5000, 0xffffffff, 0xffffffff)).toEqual(epochOrder(5000, 0xffffffff, 0xffffffff));
  });

  it('puts every item at every position about equally often (chi-square over 6000 epochs)', () => {
    const n = 5;
    const epochs = 6000;
    const counts = new Float64Array(n * n);
    for (let e = 0; e < epochs; e++) epochOrder(n, 99, e).forEach((item, pos) => counts[pos * n + item]++);
    const expected = epochs / n;
    const chi2 = counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
    // 25 cells, 16 degrees of freedom: P(chi2 > 45) < 1e-4 for a uniform shuffle.
    expect(chi2).toBeLessThan(45);
  });

  it('rejects sizes, seeds and epochs that are not 32-bit unsigned integers', () => {
    expect(() => epochOrder(-1, 0, 0)).toThrow(RangeError);
    expect(() => epochOrder(-1, 0, 0)).toThrow(/size/);
    expect(() => epochOrder(10, -1, 0)).toThrow(/seed/);
    expect(() => epochOrder(10, 0, 1.5)).toThrow(/epoch/);
    expect(() => epochOrder(10, 2 ** 32, 0)).toThrow(RangeError);
    expect(() => epochOrder('10' as unknown as number, 0, 0)).toThrow(TypeError);
  });
});

describe('Random', () => {
  it('below(n) is uniform and in range, including n = 2^32', () => {
    const r = new Random(5);
    const counts = new Float64Array(3);
    for (let i = 0; i < 30000; i++) counts[r.below(3)]++;
    for (const c of counts) expect(Math.abs(c - 10000)).toBeLessThan(500); // > 8 sigma
    for (let i = 0; i < 100; i++) {
      const v = r.below(2 ** 32);
      expect(v >= 0 && v < 2 ** 32 && Number.isInteger(v)).toBe(true);
    }
  });

  it('gives the same stream for the same seeds and a different one otherwise', () => {
    const a = new Random(1, 2);
    const b = new Random(1, 2);
    const c = new Random(2, 1);
    const sa = Array.from({ length: 8 }, () => a.nextUint32());
    expect(Array.from({ length: 8 }, () => b.nextUint32())).toEqual(sa);
    expect(Array.from({ length: 8 }, () => c.nextUint32())).not.toEqual(sa);
  });

  it('rejects bad seeds naming the argument', () => {
    expect(() => new Random()).toThrow(RangeError);
    expect(() => new Random(-3)).toThrow(/seeds\[0\]/);
    expect(() => new Random(1, NaN)).toThrow(/seeds\[1\]/);
  });
});
