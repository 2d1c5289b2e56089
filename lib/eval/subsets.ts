// Seeded, class-balanced label subsets (the 1% / 10% few-label settings) and class-stratified
// splits (a held-out part of the training split for choosing hyper-parameters). Pure functions
// of (labels, fraction, seed): the same on every machine, so a subset file can be checked.
import { Random } from '../data/shuffle.js';

/** Indices of each class, in order. */
function byClass(labels: ArrayLike<number>): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (let i = 0; i < labels.length; i++) {
    const c = labels[i];
    if (!Number.isInteger(c) || c < 0) throw new RangeError(`labels[${i}] must be a class index >= 0, got ${c}`);
    let list = out.get(c);
    if (!list) out.set(c, (list = []));
    list.push(i);
  }
  return new Map([...out.entries()].sort((a, b) => a[0] - b[0]));
}

function checkFraction(fn: string, fraction: number): void {
  if (!(fraction > 0 && fraction <= 1)) throw new RangeError(`${fn}: fraction must be in (0, 1], got ${fraction}`);
}

/**
 * A class-balanced subset: from every class, round(fraction x N / classes)
 * images (at least 1), drawn without replacement with `seed`. Returns sorted indices.
 * CIFAR-10's 1% of 50 000 is 50 per class, as in the SimCLR / swav subsets.
 */
export function classBalancedSubset(labels: ArrayLike<number>, fraction: number, seed: number): Uint32Array {
  checkFraction('classBalancedSubset', fraction);
  const classes = byClass(labels);
  const smallest = Math.min(...[...classes.values()].map((l) => l.length));
  const perClass = Math.max(1, Math.round((fraction * labels.length) / classes.size));
  if (perClass > smallest) throw new RangeError(`classBalancedSubset: ${perClass} images per class asked, the smallest class has ${smallest}`);
  const out: number[] = [];
  for (const [c, list] of classes) {
    const pick = new Random(seed >>> 0, c).shuffle(Uint32Array.from(list));
    out.push(...pick.subarray(0, perClass));
  }
  return Uint32Array.from(out).sort();
}

/**
 * A class-stratified split: `fraction` of every class (at least 1 where the class has 2 or
 * more) goes to `held`, the rest to `kept`. Sorted indices.
 */
export function stratifiedSplit(labels: ArrayLike<number>, fraction: number, seed: number): { kept: Uint32Array; held: Uint32Array } {
  checkFraction('stratifiedSplit', fraction);
  const kept: number[] = [];
  const held: number[] = [];
  for (const [c, list] of byClass(labels)) {
    const order = new Random(seed >>> 0, 0x5eed, c).shuffle(Uint32Array.from(list));
    const n = list.length < 2 ? 0 : Math.min(list.length - 1, Math.max(1, Math.round(fraction * list.length)));
    held.push(...order.subarray(0, n));
    kept.push(...order.subarray(n));
  }
  return { kept: Uint32Array.from(kept).sort(), held: Uint32Array.from(held).sort() };
}
