// DeepCluster's clustering pieces against independent references: spherical k-means recovers
// separable clusters, assigns every row its nearest final centroid, re-seeds empty clusters;
// NMI against a float64 implementation of its definition; the CutMix soft-target loss equals
// the λ-weighted sum of the two hard losses.
import { describe, expect, it } from 'vitest';
import { Generator, randn, scope, tensor } from '../../lib/index.js';
import { clusterCE, cutmixTargets } from '../../lib/kernels/index.js';
import { normalizedMutualInformation, sphericalKmeans } from '../../lib/train/clustering.js';
import { seededUniform as uniform } from '../support/kernel-checks.js';

const normalizeRows = (x: Float64Array, c: number) => {
  for (let i = 0; i < x.length / c; i++) {
    let s = 0;
    for (let j = 0; j < c; j++) s += x[i * c + j] ** 2;
    for (let j = 0; j < c; j++) x[i * c + j] /= Math.sqrt(s);
  }
  return x;
};

/** K separated directions (one-hot axes), rows = an axis plus small noise, normalised. */
function separable(k: number, perCluster: number, c: number, seed: number) {
  const u = uniform(seed);
  const x = new Float64Array(k * perCluster * c);
  const truth: number[] = [];
  for (let i = 0; i < k * perCluster; i++) {
    const cls = i % k;
    truth.push(cls);
    for (let j = 0; j < c; j++) x[i * c + j] = (j === cls ? 1 : 0) + 0.15 * (u() - 0.5);
  }
  return { x: normalizeRows(x, c), truth };
}

/** NMI from its definition, float64: 2·I(a;b)/(H(a)+H(b)). */
function nmiReference(a: number[], b: number[]): number {
  const n = a.length;
  const count = (xs: string[]) => xs.reduce((m, x) => m.set(x, (m.get(x) ?? 0) + 1), new Map<string, number>());
  const h = (m: Map<string, number>) => -[...m.values()].reduce((s, c) => s + (c / n) * Math.log(c / n), 0);
  const ha = h(count(a.map(String))), hb = h(count(b.map(String))), hab = h(count(a.map((x, i) => `${x},${b[i]}`)));
  return ha + hb === 0 ? 1 : (2 * (ha + hb - hab)) / (ha + hb);
}

describe('spherical k-means (the per-epoch clustering)', () => {
  it('recovers separable clusters, and every row is assigned its nearest final centroid', async () => {
    await scope(async () => {
      const k = 6, c = 8;
      const { x, truth } = separable(k, 40, c, 1);
      const xt = tensor(Float32Array.from(x), [truth.length, c]);
      const r = await sphericalKmeans(xt, { k, generator: new Generator(3) });
      const assignment = Array.from((await r.assignment.data()) as BigInt64Array, Number);
      expect(await normalizedMutualInformation(r.assignment, tensor(BigInt64Array.from(truth, BigInt), [truth.length]))).toBeCloseTo(1, 10);
      // nearest centroid, recomputed here in float64
      const cents = Array.from((await r.centroids.data()) as Float32Array);
      for (let i = 0; i < truth.length; i++) {
        let best = -Infinity, arg = -1;
        for (let j = 0; j < k; j++) {
          let dot = 0;
          for (let d = 0; d < c; d++) dot += x[i * c + d] * cents[j * c + d];
          if (dot > best + 1e-6) [best, arg] = [dot, j];
        }
        expect(assignment[i], `row ${i}`).toBe(arg);
      }
      // centroids are unit vectors, counts match the assignment
      for (let j = 0; j < k; j++) expect(Math.hypot(...cents.slice(j * c, (j + 1) * c))).toBeCloseTo(1, 5);
      expect(Array.from((await r.counts.data()) as BigInt64Array, Number)).toEqual(Array.from({ length: k }, (_, j) => assignment.filter((a) => a === j).length));
    });
  });

  it('re-seeds an empty cluster by splitting the largest one (without it the cluster stays dead)', async () => {
    await scope(async () => {
      const k = 4, c = 8;
      const { x, truth } = separable(k, 30, c, 2);
      const xt = tensor(Float32Array.from(x), [truth.length, c]);
      // Two centroids on cluster 0's axis, one on cluster 1's, one pointing away from every row.
      const init = new Float32Array(k * c);
      init[0 * c + 0] = 1;
      init[1 * c + 0] = 1;
      init[1 * c + 4] = 0.01;
      init[2 * c + 1] = 1;
      for (let d = 0; d < c; d++) init[3 * c + d] = -1 / Math.sqrt(c);
      const initial = tensor(init, [k, c]);
      const withReseed = await sphericalKmeans(xt, { k, initial, generator: new Generator(5) });
      const counts = Array.from((await withReseed.counts.data()) as BigInt64Array, Number);
      expect(withReseed.reseeded).toBeGreaterThanOrEqual(1);
      expect(counts.every((n) => n > 0), `counts ${counts}`).toBe(true);
      // splitting cannot do worse than leaving the cluster dead: the clustering still has 4 parts
      expect(new Set(Array.from((await withReseed.assignment.data()) as BigInt64Array)).size).toBe(k);
      // The same start with splitting disabled (δ = 0: both halves equal): the dead centroid
      // gets no member back, so at most 3 clusters are used.
      const dead = await sphericalKmeans(xt, { k, initial, splitDelta: 0, generator: new Generator(5) });
      expect(Array.from((await dead.counts.data()) as BigInt64Array, Number).filter((n) => n > 0).length).toBeLessThan(k);
    });
  });

  it('refuses more clusters than rows, and a bad initial shape, with named errors', async () => {
    const x = await randn([5, 3]);
    await expect(sphericalKmeans(x, { k: 6 })).rejects.toThrow(/sphericalKmeans: options.k must be an integer in \[1, 5\], got 6/);
    await expect(sphericalKmeans(x, { k: 2, initial: await randn([3, 3]) })).rejects.toThrow(/sphericalKmeans: options.initial must be \[k, C\] = \[2, 3\]/);
    x.dispose();
  });
});

describe('normalised mutual information', () => {
  it('equals its definition on random labelings, 1 for a relabelled partition', async () => {
    const u = uniform(9);
    for (const [n, ka, kb] of [[200, 5, 7], [57, 2, 3], [300, 30, 30]]) {
      const a = Array.from({ length: n }, () => Math.floor(u() * ka));
      const b = Array.from({ length: n }, (_, i) => (u() < 0.5 ? a[i] : Math.floor(u() * kb)));
      const ours = await normalizedMutualInformation(tensor(BigInt64Array.from(a, BigInt), [n]), tensor(BigInt64Array.from(b, BigInt), [n]));
      expect(ours).toBeCloseTo(nmiReference(a, b), 10);
    }
    const a = [0, 0, 1, 1, 2, 2, 2];
    const relabelled = a.map((v) => [7, 3, 5][v]);
    expect(await normalizedMutualInformation(tensor(BigInt64Array.from(a, BigInt), [7]), tensor(BigInt64Array.from(relabelled, BigInt), [7]))).toBeCloseTo(1, 12);
  });
});

describe('the CutMix soft-target cluster loss', () => {
  it('equals the λ-weighted sum of the hard losses to the two images\' clusters', async () => {
    await scope(async () => {
      const n = 7, k = 5, c = 6;
      const g = new Generator(2);
      const z = await (await randn([n, c], { dtype: 'float64', generator: g })).normalize(1);
      const protos = await (await randn([k, c], { dtype: 'float64', generator: g })).normalize(1);
      const own = [4, 0, 2, 2, 1, 3, 0];
      const perm = [3, 6, 0, 5, 1, 2, 4];
      const lambda = [0.2, 0.75, 1, 0.5, 0, 0.33, 0.9];
      const soft = await cutmixTargets(tensor(Float64Array.from(lambda), [n]), tensor(BigInt64Array.from(perm, BigInt), [n]), k, { columns: tensor(BigInt64Array.from(own, BigInt), [n]) });
      const mixed = (await (await clusterCE(z, protos, soft, { temperature: 0.1 })).loss.data())[0] as number;
      // per row: λ·CE(own) + (1−λ)·CE(partner's), each a one-row hard-target loss
      let expected = 0;
      for (let i = 0; i < n; i++) {
        const zi = await z.index(0, tensor(BigInt64Array.from([BigInt(i)]), [1]));
        const ce = async (t: number) => (await (await clusterCE(zi, protos, tensor(BigInt64Array.from([BigInt(t)]), [1]), { temperature: 0.1 })).loss.data())[0] as number;
        expected += lambda[i] * (await ce(own[i])) + (1 - lambda[i]) * (await ce(own[perm[i]]));
      }
      expect(mixed).toBeCloseTo(expected / n, 12);
    });
  });
});
