// kernels.kmeansAssign / kmeansUpdateCentroids against PyTorch built from plain ops
// ((x @ c.T).max(1); index_add_ + bincount + F.normalize), the chunking invariance, the
// tie rule, empty clusters, a 10-iteration k-means loop, and argument errors.
import { describe, expect, it } from 'vitest';
import { cuda, type Device, type DType, Generator, kernels, type Tensor, tensor } from '../../lib/index.js';
import { torchReference } from '../support/torch-reference.js';
import { refOf, hasNaN, normwiseError, poisonedOn, tolerance, unitRows } from '../support/kernel-checks.js';

const SHAPES: Array<[number, number, number]> = [
  [1, 3, 1],
  [1, 5, 7],
  [37, 16, 5],
  [1000, 32, 257],
  [513, 7, 3001],
];

function int64(values: number[], device: Device = 'cpu'): Promise<Tensor> | Tensor {
  const t = tensor(BigInt64Array.from(values.map(BigInt)), [values.length]);
  return device === 'cpu' ? t : t.to(device);
}

async function assignVsTorch(dtype: DType, device: Device): Promise<void> {
  const gen = new Generator(7);
  const inputs: Record<string, Tensor> = {};
  for (const [n, c, k] of SHAPES) {
    inputs[`x_${n}_${c}_${k}`] = await unitRows([n, c], dtype, gen, device);
    inputs[`c_${n}_${c}_${k}`] = await unitRows([k, c], dtype, gen, device);
  }
  const refIn = Object.fromEntries(await Promise.all(Object.entries(inputs).map(async ([k, t]) => [k, await refOf(t)])));
  const ref = torchReference(
    `
for name in [k for k in inp if k.startswith('x_')]:
    s = inp[name] @ inp['c_' + name[2:]].t()
    v, i = s.max(1)
    out['score_' + name[2:]] = v
    out['index_' + name[2:]] = i.double()
`,
    refIn,
  );
  for (const [n, c, k] of SHAPES) {
    const key = `${n}_${c}_${k}`;
    const x = inputs[`x_${key}`], cen = inputs[`c_${key}`];
    const out = { index: await poisonedIndex(n, device), score: await poisonedOn([n], dtype, device) };
    const r = await kernels.kmeansAssign(x, cen, { out });
    expect(r.index).toBe(out.index);
    const index = Array.from((await r.index.data()) as BigInt64Array, Number);
    const score = await r.score.data();
    expect(hasNaN(score)).toBe(false);
    expect(index, `${key} index`).toEqual(Array.from(ref[`index_${key}`].data));
    expect(normwiseError(score, ref[`score_${key}`].data), `${key} score`).toBeLessThan(tolerance(dtype));
    // Chunked == unchunked, bit for bit, for several chunk sizes.
    for (const chunkSize of [1, 7, 64, n]) {
      const rc = await kernels.kmeansAssign(x, cen, { chunkSize });
      expect(Array.from((await rc.index.data()) as BigInt64Array, Number), `${key} chunk ${chunkSize}`).toEqual(index);
      expect(Array.from(await rc.score.data()), `${key} chunk ${chunkSize} score`).toEqual(Array.from(score));
    }
  }
}

/** An int64 [n] tensor of -1 (an invalid index): any element left unwritten shows. */
async function poisonedIndex(n: number, device: Device): Promise<Tensor> {
  return int64(new Array(n).fill(-1), device);
}

async function tieRule(device: Device): Promise<void> {
  // Centroids 1 and 3 are the same vector and x equals it: an exact tie, won by the lower index.
  const c = 4;
  const u = [0.5, 0.5, -0.5, 0.5];
  const cent = [1, 0, 0, 0, ...u, 0, 1, 0, 0, ...u, 0, 0, 0, 1];
  const mk = (a: number[], s: number[]) => (device === 'cpu' ? tensor(Float64Array.from(a), s) : tensor(Float64Array.from(a), s).to(device));
  const x = await mk([...u, 0, 1, 0, 0, ...u], [3, c]);
  const centroids = await mk(cent, [5, c]);
  for (const chunkSize of [1, 2, 3]) {
    const r = await kernels.kmeansAssign(x, centroids, { chunkSize });
    expect(Array.from((await r.index.data()) as BigInt64Array, Number)).toEqual([1, 2, 1]);
    expect(Array.from(await r.score.data())).toEqual([1, 1, 1]);
  }
}

// max over rows j of ‖a_j − b_j‖₂ for row-major [*, c] data.
function worstRowError(a: ArrayLike<number>, b: ArrayLike<number>, c: number): number {
  let worst = 0;
  for (let j = 0; j * c < b.length; j++) {
    let sq = 0;
    for (let d = j * c; d < (j + 1) * c; d++) sq += (Number(a[d]) - Number(b[d])) ** 2;
    worst = Math.max(worst, Math.sqrt(sq));
  }
  return Number.isNaN(worst) ? Infinity : worst;
}

async function updateVsTorch(dtype: DType, device: Device): Promise<void> {
  const gen = new Generator(11);
  for (const [n, c, k] of [[1, 3, 1], [1, 4, 3], [50, 9, 7], [4000, 33, 129]] as Array<[number, number, number]>) {
    const x = await unitRows([n, c], dtype, gen, device);
    const previous = await unitRows([k, c], dtype, gen, device);
    // Assignments that leave clusters 0 and k-1 empty (when k >= 3), else random.
    const a = Array.from({ length: n }, (_, i) => (k >= 3 ? 1 + ((i * 7919) % (k - 2)) : (i * 31) % k));
    const assignment = await int64(a, device);
    const ref = torchReference(
      `
import torch.nn.functional as F
x, a, prev = inp['x'], inp['a'], inp['prev']
k = prev.shape[0]
sums = torch.zeros(k, x.shape[1], dtype=torch.float64).index_add_(0, a, x.double())
counts = torch.bincount(a, minlength=k)
new = F.normalize(sums, dim=1, eps=1e-12)
new = torch.where((counts > 0)[:, None], new, prev.double())
out['centroids'] = new
out['counts'] = counts.double()
`,
      { x: await refOf(x), a: await refOf(assignment), prev: await refOf(previous) },
    );
    const out = await poisonedOn([k, c], dtype, device);
    const r = await kernels.kmeansUpdateCentroids(x, assignment, k, { previous, out });
    expect(r.centroids).toBe(out);
    const cen = await r.centroids.data();
    expect(hasNaN(cen)).toBe(false);
    // Centroids are unit rows: the worst row's ‖ours − ref‖₂ is its relative error. (Element by
    // element, a component that cancels to ~1e-3 carries the rounding of its ~30-term float32
    // sum relative to itself: on CUDA, atomic adds in any order, 3.7e-5 was seen on an H200.)
    expect(worstRowError(cen, ref.centroids.data, c), `[${n},${c},${k}] centroids`).toBeLessThan(tolerance(dtype));
    expect(Array.from((await r.counts.data()) as BigInt64Array, Number)).toEqual(Array.from(ref.counts.data));
    const prev = await previous.data();
    const counts = Array.from((await r.counts.data()) as BigInt64Array, Number);
    for (let j = 0; j < k; j++) {
      const row = Array.from(cen.slice(j * c, (j + 1) * c));
      if (counts[j] === 0) {
        expect(row, `empty cluster ${j} keeps previous`).toEqual(Array.from(prev.slice(j * c, (j + 1) * c)));
      }
      const norm = Math.hypot(...row);
      expect(Math.abs(norm - 1), `cluster ${j} unit norm`).toBeLessThan(dtype === 'float64' ? 1e-12 : 1e-6);
    }
    if (k >= 3) expect(counts[0]).toBe(0);
    // In place (out = previous) gives the same centroids: bit for bit on the CPU; on CUDA the
    // sums are atomic adds in whatever order the threads run, so to rounding.
    const inPlace = await previous.clone();
    await kernels.kmeansUpdateCentroids(x, assignment, k, { previous: inPlace, out: inPlace });
    if (device === 'cpu') expect(Array.from(await inPlace.data())).toEqual(Array.from(cen));
    else expect(worstRowError(await inPlace.data(), cen, c)).toBeLessThan(tolerance(dtype));
  }
}

async function kmeansLoop(device: Device): Promise<void> {
  // 10 iterations of spherical k-means from the JS side; the objective sum_i x_i . c_a(i)
  // never decreases (assignment maximises it for fixed centroids, the normalised member
  // sum maximises it for fixed assignments) and ends higher than it starts.
  const gen = new Generator(2024);
  const n = 3000, c = 16, k = 25;
  const x = await unitRows([n, c], 'float32', gen, device);
  let centroids = await unitRows([k, c], 'float32', gen, device);
  const objectives: number[] = [];
  for (let it = 0; it < 10; it++) {
    const { index, score } = await kernels.kmeansAssign(x, centroids, { chunkSize: 997 });
    objectives.push((await score.data()).reduce((s, v) => s + v, 0));
    const next = await kernels.kmeansUpdateCentroids(x, index, k, { previous: centroids });
    centroids = next.centroids;
  }
  const { score } = await kernels.kmeansAssign(x, centroids);
  objectives.push((await score.data()).reduce((s, v) => s + v, 0));
  for (let i = 1; i < objectives.length; i++) expect(objectives[i]).toBeGreaterThanOrEqual(objectives[i - 1] - 1e-3);
  expect(objectives.at(-1)!).toBeGreaterThan(objectives[0] * 1.05);
}

describe('kernels.kmeansAssign', () => {
  for (const dtype of ['float32', 'float64'] as const) {
    it(`cpu ${dtype}: equals torch's argmax of x @ c.T, chunked == unchunked`, async () => {
      await assignVsTorch(dtype, 'cpu');
    });
    it.skipIf(!cuda.isAvailable())(`cuda ${dtype}: same (skipped when no CUDA device: needs a GPU)`, async () => {
      await assignVsTorch(dtype, 'cuda');
    });
  }
  it('cpu: an exact tie goes to the lowest centroid index', async () => {
    await tieRule('cpu');
  });
  it.skipIf(!cuda.isAvailable())('cuda: tie rule (skipped when no CUDA device: needs a GPU)', async () => {
    await tieRule('cuda');
  });
});

describe('kernels.kmeansUpdateCentroids', () => {
  for (const dtype of ['float32', 'float64'] as const) {
    it(`cpu ${dtype}: equals index_add + bincount + normalize; empty clusters keep previous; unit norm`, async () => {
      await updateVsTorch(dtype, 'cpu');
    });
    it.skipIf(!cuda.isAvailable())(`cuda ${dtype}: same (skipped when no CUDA device: needs a GPU)`, async () => {
      await updateVsTorch(dtype, 'cuda');
    });
  }
  it('cpu: a 10-iteration k-means loop increases the objective', async () => {
    await kmeansLoop('cpu');
  });
  it.skipIf(!cuda.isAvailable())('cuda: k-means loop (skipped when no CUDA device: needs a GPU)', async () => {
    await kmeansLoop('cuda');
  });
});

describe('k-means argument errors', () => {
  it('names the argument', async () => {
    const gen = new Generator(3);
    const x = await unitRows([6, 4], 'float32', gen);
    const cen = await unitRows([3, 4], 'float32', gen);
    const a = await int64([0, 1, 2, 0, 1, 2]);
    const check = async (f: () => Promise<unknown>, cls: ErrorConstructor, re: RegExp) => {
      await expect(f()).rejects.toThrow(cls);
      await expect(f()).rejects.toThrow(re);
    };
    await check(() => kernels.kmeansAssign(x, cen, { chunkSize: 0 }), RangeError, /kmeansAssign: options\.chunkSize must be an integer in \[1, \d+\], got 0/);
    const cen5 = await unitRows([3, 5], 'float32', gen);
    await check(() => kernels.kmeansAssign(x, cen5), RangeError, /kmeansAssign: centroids must be a Tensor of shape \[K, C\], C = 4/);
    const cen64 = await unitRows([3, 4], 'float64', gen);
    await check(() => kernels.kmeansAssign(x, cen64), TypeError, /kmeansAssign: centroids must be a Tensor with x's dtype/);
    await check(() => kernels.kmeansUpdateCentroids(x, a, 0, { previous: cen }), RangeError, /kmeansUpdateCentroids: k must be an integer in \[1, \d+\], got 0/);
    await check(() => kernels.kmeansUpdateCentroids(x, a, 3, {} as never), TypeError, /kmeansUpdateCentroids: options\.previous must be a Tensor/);
    await check(() => kernels.kmeansUpdateCentroids(x, a, 4, { previous: cen }), RangeError, /options\.previous must be a Tensor of shape \[k, C\] = \[4, 4\]/);
    const bad = await int64([0, 1, 2, 3, 1, 2]);
    await check(() => kernels.kmeansUpdateCentroids(x, bad, 3, { previous: cen }), RangeError, /kmeansUpdateCentroids: .*assignment must be in \[0, 3\), got values in \[0, 3\]/);
    const negative = await int64([0, -1, 2, 0, 1, 2]);
    await check(() => kernels.kmeansUpdateCentroids(x, negative, 3, { previous: cen }), RangeError, /assignment must be in \[0, 3\)/);
    const a32 = tensor(new Int32Array([0, 1, 2, 0, 1, 2]), [6]);
    await check(() => kernels.kmeansUpdateCentroids(x, a32, 3, { previous: cen }), TypeError, /kmeansUpdateCentroids: assignment must be an int64 Tensor/);
    const short = await int64([0, 1]);
    await check(() => kernels.kmeansUpdateCentroids(x, short, 3, { previous: cen }), RangeError, /assignment must be a Tensor of shape \[N\] = \[6\]/);
  });

  it.skipIf(!cuda.isAvailable())('cuda: an assignment out of range rejects, leaves previous as it was, and CUDA keeps working (skipped when no CUDA device: needs a GPU)', async () => {
    const gen = new Generator(12);
    const x = await (await unitRows([6, 4], 'float32', gen)).to('cuda');
    const cen = await (await unitRows([3, 4], 'float32', gen)).to('cuda');
    const before = Array.from(await cen.data());
    const bad = await tensor(BigInt64Array.from([0n, 1n, 7n, 0n, -1n, 2n]), [6]).to('cuda');
    const err = await kernels.kmeansUpdateCentroids(x, bad, 3, { previous: cen, out: cen }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(RangeError);
    expect((err as Error).message).toMatch(/^kmeansUpdateCentroids: .*assignment must be in \[0, 3\), got 2 value\(s\) outside$/);
    expect(Array.from(await cen.data())).toEqual(before); // nothing written before the check
    const good = await tensor(BigInt64Array.from([0n, 1n, 2n, 0n, 1n, 2n]), [6]).to('cuda');
    const r = await kernels.kmeansUpdateCentroids(x, good, 3, { previous: cen });
    expect(Array.from(await r.counts.data())).toEqual([2n, 2n, 2n]); // no device assert poisoned the context
  });
});
