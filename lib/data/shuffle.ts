// Seeded shuffles. The order of an epoch is a pure function of (seed, epoch, size), computed
// with 32-bit integer arithmetic only, so it is the same on every machine and Node version and
// a resumed run rebuilds it from its checkpointed (seed, epoch) instead of storing it.
import { checkInteger } from './validate.js';

const UINT32_MAX = 0xffffffff;

/** MurmurHash3's finaliser: a bijection on 32-bit words that mixes every input bit. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * xoshiro128** (Blackman & Vigna): 128 bits of state, period 2^128 - 1, good statistical
 * quality, a few integer ops per number. Seeded from any number of 32-bit words (hashed
 * together), e.g. new Random(seed, epoch).
 */
export class Random {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;

  constructor(...seeds: number[]) {
    if (seeds.length === 0) throw new RangeError('Random: give at least one seed');
    let h = 0x6a09e667;
    seeds.forEach((seed, k) => {
      checkInteger('Random', `seeds[${k}]`, seed, 0, UINT32_MAX);
      h = mix32((h ^ seed) + 0x9e3779b9);
    });
    // SplitMix-style expansion of the hash into the four state words (never all zero: the
    // words come from a bijection of distinct inputs).
    const words = [0, 1, 2, 3].map((k) => mix32((h + Math.imul(k + 1, 0x9e3779b9)) >>> 0));
    [this.s0, this.s1, this.s2, this.s3] = words;
  }

  /** A uniform integer in [0, 2^32). */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** A uniform integer in [0, n), without modulo bias (rejection sampling); 1 <= n <= 2^32. */
  below(n: number): number {
    const span = 2 ** 32;
    const limit = span - (span % n); // accept r < limit: a whole number of copies of [0, n)
    for (;;) {
      const r = this.nextUint32();
      if (r < limit) return r % n;
    }
  }

  /** Shuffles a in place (Fisher–Yates) and returns it. */
  shuffle<T extends { length: number; [i: number]: number }>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.below(i + 1);
      const tmp = a[i];
      a[i] = a[j];
      a[j] = tmp;
    }
    return a;
  }
}

/**
 * The order in which epoch `epoch` visits a dataset of `size` items: a permutation of
 * [0, size) that depends only on (size, seed, epoch). seed and epoch are 32-bit unsigned
 * integers.
 */
export function epochOrder(size: number, seed: number, epoch: number): Uint32Array {
  checkInteger('epochOrder', 'size', size, 0, UINT32_MAX);
  checkInteger('epochOrder', 'seed', seed, 0, UINT32_MAX);
  checkInteger('epochOrder', 'epoch', epoch, 0, UINT32_MAX);
  const order = new Uint32Array(size);
  for (let i = 0; i < size; i++) order[i] = i;
  return new Random(seed, epoch).shuffle(order);
}
