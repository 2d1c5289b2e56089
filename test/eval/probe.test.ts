// The parts of `hexa eval`: linear probe, label subsets, fine-tuning, each against what it
// must do (separable data is separated, subsets are balanced and seeded, every layer learns).
import { describe, expect, it } from 'vitest';
import { classBalancedSubset, classifierAccuracy, fineTune, Generator, linearProbe, randn, scope, stratifiedSplit, tensor, trainLinearClassifier, untrainedBackbone } from '../../lib/index.js';
import { torchReference } from '../support/torch-reference.js';

/** n points per class in d dims: class c is centred at 4·e_c plus unit noise, rescaled per dimension (linearly separable in practice). */
async function separable(n: number, classes: number, d: number, seed: number) {
  const x = (await (await randn([n * classes, d], { generator: new Generator(seed) })).data()) as Float32Array;
  const labels = new BigInt64Array(n * classes);
  for (let i = 0; i < n * classes; i++) {
    const c = i % classes;
    labels[i] = BigInt(c);
    x[i * d + c] += 8;
    for (let j = 0; j < d; j++) x[i * d + j] = x[i * d + j] * (1 + j) + 100 * j; // scales and offsets the standardisation must undo
  }
  return { features: tensor(x, [n * classes, d]), labels: tensor(labels, [n * classes]) };
}

describe('linear probe', () => {
  it('reaches ~100% on linearly separable features, top-5 with > 5 classes', async () => {
    await scope(async () => {
      const train = await separable(100, 8, 16, 1);
      const test = await separable(50, 8, 16, 2);
      const r = await linearProbe(train, test, 8, { epochs: 30, sweepEpochs: 10 });
      expect(r.top1).toBeGreaterThanOrEqual(0.99);
      expect(r.top5).toBe(1);
      expect(r.sweep).toHaveLength(6);
      expect(r.sweep.map((s) => [s.lr, s.weightDecay])).toContainEqual([r.lr, r.weightDecay]);
      // The chosen pair is the best held-out one (the test split never decides).
      expect(Math.max(...r.sweep.map((s) => s.heldOutTop1))).toBe(r.sweep.find((s) => s.lr === r.lr && s.weightDecay === r.weightDecay)!.heldOutTop1);
    });
  });

  it('the returned classifier applies to raw features: its accuracy equals a PyTorch evaluation of the same weights', async () => {
    await scope(async () => {
      const train = await separable(40, 3, 5, 3);
      const c = await trainLinearClassifier(train.features, train.labels, { classes: 3, epochs: 5, lr: 0.1 });
      const acc = await classifierAccuracy(train.features, train.labels, c);
      expect(acc.top5).toBeUndefined(); // 3 classes: no top-5
      const ref = torchReference(`out['acc'] = ((inp['x'].double() @ inp['w'].double().t() + inp['b'].double()).argmax(1) == inp['y']).double().mean()`, {
        x: { data: (await train.features.data()) as Float32Array, shape: train.features.shape },
        w: { data: (await c.weight.data()) as Float32Array, shape: c.weight.shape },
        b: { data: (await c.bias.data()) as Float32Array, shape: c.bias.shape },
        y: { data: (await train.labels.data()) as BigInt64Array, shape: train.labels.shape },
      });
      expect(acc.top1).toBeCloseTo(ref.acc.data[0], 10);
      expect(acc.top1).toBeGreaterThan(0.95);
    });
  });

  it('bad input is a clear error naming the function and argument', async () => {
    await scope(async () => {
      const { features, labels } = await separable(4, 2, 3, 4);
      await expect(trainLinearClassifier(features, labels, { classes: 1 })).rejects.toThrow(/trainLinearClassifier: labels must lie in \[0, 1\)/);
      await expect(trainLinearClassifier(features, await labels.reshape([8, 1]), { classes: 2 })).rejects.toThrow(/^trainLinearClassifier: labels must be a Tensor of shape \[N\] = \[8\]/);
      await expect(trainLinearClassifier(labels, labels, { classes: 2 })).rejects.toThrow(TypeError);
      await expect(trainLinearClassifier(features, labels, { classes: 2, lr: -1 })).rejects.toThrow(/trainLinearClassifier: options.lr/);
      await expect(trainLinearClassifier(features, labels, { classes: 2, epochs: 1.5 })).rejects.toThrow(/options.epochs/);
    });
  });
});

describe('label subsets', () => {
  const labels = Array.from({ length: 1000 }, (_, i) => (i * 7) % 10);
  it('are class-balanced, identical for a seed and different for another', () => {
    const a = classBalancedSubset(labels, 0.1, 3);
    expect(a.length).toBe(100);
    const counts = new Array(10).fill(0);
    a.forEach((i) => counts[labels[i]]++);
    expect(counts).toEqual(new Array(10).fill(10));
    expect(new Set(a).size).toBe(100);
    expect(Array.from(classBalancedSubset(labels, 0.1, 3))).toEqual(Array.from(a));
    expect(Array.from(classBalancedSubset(labels, 0.1, 4))).not.toEqual(Array.from(a));
    expect(classBalancedSubset(labels, 0.01, 3).length).toBe(10);
    expect(() => classBalancedSubset(labels, 0, 3)).toThrow(RangeError);
    expect(() => classBalancedSubset([0, 0, 0, 1], 1, 3)).toThrow(/smallest class has 1/);
  });
  it('stratified splits partition the indices with every class on both sides', () => {
    const { kept, held } = stratifiedSplit(labels, 0.2, 1);
    expect(held.length).toBe(200);
    expect([...kept, ...held].sort((x, y) => x - y)).toEqual(labels.map((_, i) => i));
    expect(new Set(Array.from(held, (i) => labels[i])).size).toBe(10);
  });
});

describe('fine-tuning', () => {
  it('updates every layer of the backbone and the new head; seeded runs repeat exactly', async () => {
    await scope(async () => {
      const b = await untrainedBackbone({ arch: 'resnet18', width: 4, cifarStem: true, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] }, 7);
      try {
        const g = new Generator(5);
        const images = await (await (await (await randn([24, 3, 16, 16], { generator: g })).mul(60)).add(128)).to('uint8');
        const labels = tensor(BigInt64Array.from({ length: 24 }, (_, i) => BigInt(i % 3)), [24]);
        const run = () => fineTune(b, images, labels, { classes: 3, steps: 3, batchSize: 8, lrTrunk: 0.05, lrHead: 0.1, seed: 1 });
        const tuned = (await run())!;
        const again = (await run())!;
        expect(Object.keys(tuned.state).sort()).toEqual([...Object.keys(b.state), 'fc.bias', 'fc.weight'].sort());
        const unchanged: string[] = [];
        for (const [k, t] of Object.entries(b.state)) {
          const before = Array.from((await t.data()) as ArrayLike<number | bigint>, Number);
          const after = Array.from((await tuned.state[k].data()) as ArrayLike<number | bigint>, Number);
          if (before.every((v, i) => v === after[i])) unchanged.push(k);
          expect(Array.from((await again.state[k].data()) as ArrayLike<number | bigint>, Number)).toEqual(after);
        }
        expect(unchanged).toEqual([]);
        expect(Number.isFinite(tuned.meanLoss)).toBe(true);
      } finally {
        b.dispose();
      }
    });
  });
});
