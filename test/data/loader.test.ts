import { describe, expect, it } from 'vitest';
import { data, liveTensorCount } from '../../lib/index.js';
import type { data as D } from '../../lib/index.js';

const { BatchLoader, fromArrays } = data;

/** n one-pixel-per-channel images whose bytes spell their own index: image i = [i & 255, i >> 8]. */
function indexedDataset(n: number): D.ImageDataset {
  const images = new Uint8Array(n * 2);
  for (let i = 0; i < n; i++) {
    images[2 * i] = i & 255;
    images[2 * i + 1] = i >> 8;
  }
  return fromArrays({ images, shape: [2, 1, 1], labels: Array.from({ length: n }, (_, i) => i % 10) });
}

/** The dataset indices a batch holds, read back from its pixels. */
function idsOf(b: D.ImageBatch): number[] {
  return Array.from({ length: b.shape[0] }, (_, k) => b.images[2 * k] + 256 * b.images[2 * k + 1]);
}

async function collect(it: AsyncIterable<D.LoaderBatch>): Promise<D.LoaderBatch[]> {
  const out: D.LoaderBatch[] = [];
  for await (const b of it) out.push(b);
  return out;
}

/** Wraps a dataset: records every batch() call, resolves each after a random delay. */
function slowDataset(inner: D.ImageDataset, seed = 1) {
  const rng = new data.Random(seed);
  const calls: Uint32Array[] = [];
  const ds: D.ImageDataset = {
    name: 'slow', size: inner.size, channels: inner.channels, height: inner.height, width: inner.width, classes: inner.classes,
    async batch(indices, options) {
      calls.push(Uint32Array.from(indices));
      await new Promise((r) => setTimeout(r, rng.below(15)));
      return inner.batch(indices, options);
    },
  };
  return { ds, calls };
}

describe('BatchLoader', () => {
  it('visits every index exactly once per epoch, in its order, with matching labels', async () => {
    const ds = indexedDataset(103);
    const loader = new BatchLoader(ds, { batchSize: 10, seed: 7 });
    expect(loader.stepsPerEpoch).toBe(11);
    const batches = await collect(loader.batches(0));
    expect(batches.map((b) => b.step)).toEqual([...Array(11).keys()]);
    expect(batches.map((b) => b.shape[0])).toEqual([10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 3]);
    const seen = batches.flatMap(idsOf);
    expect([...seen].sort((a, b) => a - b)).toEqual([...Array(103).keys()]);
    expect(seen).toEqual([...loader.order(0)]); // images come in the epoch's order
    expect(seen).not.toEqual([...Array(103).keys()]); // and it is shuffled
    for (const b of batches) {
      expect(idsOf(b)).toEqual([...b.indices]);
      expect([...b.labels]).toEqual(idsOf(b).map((i) => i % 10));
      expect(b.shape).toEqual([b.indices.length, 2, 1, 1]);
    }
  });

  it('gives the same order for the same seed and epoch, another for another epoch or seed', async () => {
    const ds = indexedDataset(64);
    const a = (await collect(new BatchLoader(ds, { batchSize: 8, seed: 3 }).batches(5))).flatMap(idsOf);
    const b = (await collect(new BatchLoader(ds, { batchSize: 8, seed: 3, prefetch: 0 }).batches(5))).flatMap(idsOf);
    const otherEpoch = (await collect(new BatchLoader(ds, { batchSize: 8, seed: 3 }).batches(6))).flatMap(idsOf);
    const otherSeed = (await collect(new BatchLoader(ds, { batchSize: 8, seed: 4 }).batches(5))).flatMap(idsOf);
    expect(b).toEqual(a);
    expect(otherEpoch).not.toEqual(a);
    expect(otherSeed).not.toEqual(a);
  });

  it('keeps index order with shuffle: false', async () => {
    const ds = indexedDataset(20);
    const ids = (await collect(new BatchLoader(ds, { batchSize: 6, shuffle: false }).batches(3))).flatMap(idsOf);
    expect(ids).toEqual([...Array(20).keys()]);
  });

  it('dropLast leaves out the short last batch and nothing else', async () => {
    const ds = indexedDataset(103);
    const loader = new BatchLoader(ds, { batchSize: 10, dropLast: true, seed: 1 });
    expect(loader.stepsPerEpoch).toBe(10);
    const batches = await collect(loader.batches(2));
    expect(batches.every((b) => b.shape[0] === 10)).toBe(true);
    const ids = batches.flatMap(idsOf);
    expect(new Set(ids).size).toBe(100);
    expect(ids).toEqual([...loader.order(2).subarray(0, 100)]);
    // exact multiple: nothing dropped; smaller than a batch: no steps at all
    expect(new BatchLoader(indexedDataset(30), { batchSize: 10, dropLast: true }).stepsPerEpoch).toBe(3);
    const tiny = new BatchLoader(indexedDataset(3), { batchSize: 10, dropLast: true });
    expect(tiny.stepsPerEpoch).toBe(0);
    expect(await collect(tiny.batches(0))).toEqual([]);
  });

  it('resuming at step s gives exactly the remaining batches of the epoch', async () => {
    const ds = indexedDataset(77);
    const full = await collect(new BatchLoader(ds, { batchSize: 8, seed: 11 }).batches(4));
    for (const s of [0, 1, 5, 9, 10]) {
      // a new loader, as after a restart: only (seed, epoch, step) survive
      const rest = await collect(new BatchLoader(ds, { batchSize: 8, seed: 11 }).batches(4, { startStep: s }));
      expect(rest.map((b) => b.step)).toEqual(full.slice(s).map((b) => b.step));
      expect(rest.map(idsOf)).toEqual(full.slice(s).map(idsOf));
    }
    const loader = new BatchLoader(ds, { batchSize: 8, seed: 11 });
    expect([...loader.indicesOf(4, 3)]).toEqual(idsOf(full[3]));
  });

  it('prefetch keeps `prefetch` batches loading ahead and never reorders', async () => {
    const { ds, calls } = slowDataset(indexedDataset(50));
    const loader = new BatchLoader(ds, { batchSize: 4, seed: 2, prefetch: 3 });
    const expected = (await collect(new BatchLoader(indexedDataset(50), { batchSize: 4, seed: 2, prefetch: 0 }).batches(1))).map(idsOf);
    const it = loader.batches(1);
    const first = await it.next();
    expect(first.done).toBe(false);
    await new Promise((r) => setTimeout(r, 5));
    expect(calls.length).toBe(4); // the current batch and the 3 after it, no more
    const got = [idsOf(first.value as D.LoaderBatch)];
    for await (const b of it) got.push(idsOf(b));
    expect(got).toEqual(expected); // delays of 0..14 ms finish loads out of order; output is in order
    expect(calls.length).toBe(13);
  });

  it('stops loading when the loop stops early', async () => {
    const { ds, calls } = slowDataset(indexedDataset(100));
    const loader = new BatchLoader(ds, { batchSize: 5, prefetch: 2 });
    for await (const b of loader.batches(0)) if (b.step === 3) break;
    const asked = calls.length;
    expect(asked).toBe(6); // steps 0..3 and the 2 prefetched after step 3
    await new Promise((r) => setTimeout(r, 40));
    expect(calls.length).toBe(asked);
  });

  it('passes a load error to the consumer at its step, and a prefetched error is never unhandled', async () => {
    const inner = indexedDataset(40);
    let failStep = 3;
    const ds: D.ImageDataset = {
      ...inner, name: 'failing', size: 40, channels: 2, height: 1, width: 1, classes: inner.classes,
      batch: (indices, o) => (indices[0] === loaderRef.order(0)[failStep * 4] ? Promise.reject(new Error('disk on fire')) : inner.batch(indices, o)),
    };
    const loaderRef = new BatchLoader(ds, { batchSize: 4, prefetch: 2 });
    const steps: number[] = [];
    await expect(async () => {
      for await (const b of loaderRef.batches(0)) steps.push(b.step);
    }).rejects.toThrow('disk on fire');
    expect(steps).toEqual([0, 1, 2]);
    // the failing load is prefetched but the loop stops before it: no unhandled rejection
    failStep = 2;
    for await (const b of loaderRef.batches(0)) if (b.step === 0) break;
    await new Promise((r) => setTimeout(r, 10));
  });

  it('an aborted signal stops the epoch', async () => {
    const { ds } = slowDataset(indexedDataset(40));
    const loader = new BatchLoader(ds, { batchSize: 4 });
    const controller = new AbortController();
    const steps: number[] = [];
    await expect(async () => {
      for await (const b of loader.batches(0, { signal: controller.signal })) {
        steps.push(b.step);
        if (b.step === 1) controller.abort(new Error('stop now'));
      }
    }).rejects.toThrow('stop now');
    expect(steps).toEqual([0, 1]);
  });
});

describe('BatchLoader.tensors', () => {
  it('yields uint8 [n,C,H,W] images and int64 labels holding the batch', async () => {
    const ds = indexedDataset(23);
    const loader = new BatchLoader(ds, { batchSize: 10, seed: 5 });
    const host = await collect(loader.batches(0));
    let k = 0;
    for await (const t of loader.tensors(0)) {
      expect(t.images.shape).toEqual([host[k].shape[0], 2, 1, 1]);
      expect(t.images.dtype).toBe('uint8');
      expect(t.labels.dtype).toBe('int64');
      expect(await t.images.data()).toEqual(host[k].images);
      expect(Array.from(await t.labels.data(), Number)).toEqual([...host[k].labels]);
      k++;
    }
    expect(k).toBe(3);
  });

  it('leaks no tensors: full epochs, early break, resume, close() mid-epoch', async () => {
    const ds = indexedDataset(50);
    const baseline = liveTensorCount();
    const loader = new BatchLoader(ds, { batchSize: 8, prefetch: 2 });

    let previous: D.TensorLoaderBatch | null = null;
    for await (const t of loader.tensors(0)) {
      if (previous) expect(previous.images.isDisposed && previous.labels.isDisposed).toBe(true);
      expect(liveTensorCount()).toBe(baseline + 2); // only the current batch is alive
      previous = t;
    }
    expect(liveTensorCount()).toBe(baseline);

    for await (const t of loader.tensors(1, { startStep: 2 })) if (t.step === 4) break;
    expect(liveTensorCount()).toBe(baseline);

    const it = loader.tensors(2);
    await it.next();
    await it.next();
    expect(liveTensorCount()).toBe(baseline + 2);
    loader.close(); // the iterator is suspended, never resumed: close() frees its batch
    expect(liveTensorCount()).toBe(baseline);
    expect((await it.next()).done).toBe(true);
    expect(() => loader.tensors(0)).toThrow(/closed/);
    expect(liveTensorCount()).toBe(baseline);
  });
});

describe('BatchLoader: bad input', () => {
  const ds = indexedDataset(10);
  it('rejects bad options naming the argument', () => {
    expect(() => new BatchLoader(ds, { batchSize: 0 })).toThrow(RangeError);
    expect(() => new BatchLoader(ds, { batchSize: 0 })).toThrow(/options\.batchSize/);
    expect(() => new BatchLoader(ds, { batchSize: -4 })).toThrow(/options\.batchSize.*-4/);
    expect(() => new BatchLoader(ds, { batchSize: '4' as unknown as number })).toThrow(TypeError);
    expect(() => new BatchLoader(ds, undefined as unknown as D.BatchLoaderOptions)).toThrow(/options/);
    expect(() => new BatchLoader(ds, { batchSize: 2, seed: -1 })).toThrow(/options\.seed/);
    expect(() => new BatchLoader(ds, { batchSize: 2, prefetch: 1.5 })).toThrow(/options\.prefetch/);
    expect(() => new BatchLoader(ds, { batchSize: 2, dropLast: 1 as unknown as boolean })).toThrow(TypeError);
    expect(() => new BatchLoader({} as D.ImageDataset, { batchSize: 2 })).toThrow(/dataset/);
    expect(() => new BatchLoader(null as unknown as D.ImageDataset, { batchSize: 2 })).toThrow(TypeError);
  });
  it('rejects bad epochs and steps naming the argument', () => {
    const loader = new BatchLoader(ds, { batchSize: 3 });
    expect(() => loader.batches(-1)).toThrow(/epoch/);
    expect(() => loader.batches(0, { startStep: 5 })).toThrow(RangeError);
    expect(() => loader.batches(0, { startStep: 5 })).toThrow(/options\.startStep/);
    expect(() => loader.tensors(0, { startStep: -1 })).toThrow(/options\.startStep/);
    expect(() => loader.batches(0, { signal: 'x' as unknown as AbortSignal })).toThrow(/options\.signal/);
    expect(() => loader.indicesOf(0, 4)).toThrow(/step/);
  });
});
