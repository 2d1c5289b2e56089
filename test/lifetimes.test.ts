// Explicit lifetimes: dispose(), scope(), keep() and the live-tensor count leak tests rely on.
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { keep, liveTensorCount, rand, scope, tensor, zeros } from '../lib/index.js';
import { doublingSum } from './support/doubling-sum.js';

describe('tensor lifetimes', () => {
  it('scope disposes what was made inside except what it returns', async () => {
    const before = liveTensorCount();
    let inner: ReturnType<typeof tensor> | undefined;
    const { kept, list } = await scope(async () => {
      inner = await zeros([4]);
      const a = await rand([3]);
      const b = await a.mul(2);
      const c = await b.add(1);
      return { kept: c, list: [await c.clone()] };
    });
    expect(inner!.isDisposed).toBe(true);
    expect(kept.isDisposed).toBe(false);
    expect(list[0].isDisposed).toBe(false);
    expect(liveTensorCount()).toBe(before + 2);
    kept.dispose();
    list[0].dispose();
    expect(liveTensorCount()).toBe(before);
  });

  it('nested scopes hand returned tensors to the outer scope; keep() exempts one', async () => {
    const before = liveTensorCount();
    let fromInner: ReturnType<typeof tensor> | undefined;
    let kept: ReturnType<typeof tensor> | undefined;
    await scope(async () => {
      fromInner = await scope(async () => rand([2]));
      expect(fromInner.isDisposed).toBe(false);
      kept = keep(await rand([2]));
    });
    expect(fromInner!.isDisposed).toBe(true);
    expect(kept!.isDisposed).toBe(false);
    kept!.dispose();
    expect(liveTensorCount()).toBe(before);
  });

  it('a throwing scope disposes everything it made and rethrows', async () => {
    const before = liveTensorCount();
    await expect(
      scope(async () => {
        await rand([8]);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(liveTensorCount()).toBe(before);
  });

  it('two scopes awaiting at once never collect each other\'s tensors', async () => {
    const before = liveTensorCount();
    const results = await Promise.all(
      [0, 1, 2, 3].map((i) =>
        scope(async () => {
          const a = await rand([16]);
          await new Promise((r) => setTimeout(r, 5 * (4 - i)));
          const b = await a.add(i);
          return b;
        }),
      ),
    );
    expect(results.every((t) => !t.isDisposed)).toBe(true);
    expect(liveTensorCount()).toBe(before + 4);
    results.forEach((t) => t.dispose());
    expect(liveTensorCount()).toBe(before);
  });

  it('100k tensors created and disposed leave the live count at 0 and RSS within 10%', async () => {
    const before = liveTensorCount();
    const src = new Float32Array(64);
    // One full round first: V8's heap and the allocator's arenas settle at their working size
    // (measured: ~195 MB after every round of 100k); a leak would keep growing after that.
    for (let i = 0; i < 100_000; i++) tensor(src, [8, 8]).dispose();
    global.gc?.();
    const rss0 = process.memoryUsage().rss;
    for (let i = 0; i < 100_000; i++) {
      const t = tensor(src, [8, 8]);
      if (i % 1000 === 0) (await t.clone()).dispose(); // some async ops too
      t.dispose();
    }
    global.gc?.();
    const rss1 = process.memoryUsage().rss;
    expect(liveTensorCount()).toBe(before);
    expect(rss1 / rss0).toBeLessThan(1.1);
    console.log(`100k create/dispose: rss ${(rss0 / 2 ** 20).toFixed(1)} MiB -> ${(rss1 / 2 ** 20).toFixed(1)} MiB`);
  });

  it('handles that are dropped without dispose are freed by the garbage collector (safety net)', async () => {
    if (!global.gc) return expect.fail('run with --expose-gc (vitest.config.ts passes it)');
    const before = liveTensorCount();
    for (let i = 0; i < 1000; i++) tensor(new Float32Array(16), [16]);
    expect(liveTensorCount()).toBeGreaterThanOrEqual(before + 1000);
    for (let i = 0; i < 10 && liveTensorCount() > before; i++) {
      global.gc();
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(liveTensorCount()).toBe(before);
  });

  it('works in worker threads beside the main thread: each environment computes and frees its own tensors', async () => {
    // Every environment has its own compute thread; tensor handles of all of them share one
    // registry (native/binding/handles.cpp), used here from three threads at once.
    const rounds = 300, expected = rounds * (rounds - 1);
    const workers = [0, 1].map(() => new Worker(new URL('./support/worker-boot.mjs', import.meta.url), { workerData: { rounds } }));
    const results = workers.map((w) => new Promise<{ sum: number; live: number }>((resolve, reject) => (w.once('message', resolve), w.once('error', reject))));
    const before = liveTensorCount();
    expect(await doublingSum(rounds)).toBe(expected);
    expect(await Promise.all(results)).toEqual([{ sum: expected, live: 0 }, { sum: expected, live: 0 }]);
    await Promise.all(workers.map((w) => w.terminate()));
    expect(liveTensorCount()).toBe(before);
  }, 60_000);
});
