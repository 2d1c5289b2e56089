// The execution engine: one ordered compute thread (native/binding/compute_queue.h), the CPU
// caching allocator (native/runtime/cpu_caching_allocator.h) and LibTorch's profiler.
import { afterAll, describe, expect, it } from 'vitest';
import { cpu, kernels, profiler, rand, zeros } from '../lib/index.js';
import { childRun, childSummary } from './support/child-summary.js';

afterAll(() => cpu.setCacheLimit(2 ** 30));

// The in-process cache tests need the cache this process loaded with; a run under
// HEXA_TORCH_NO_CPU_CACHING=1 (e.g. the whole suite under glibc's malloc checks, to see every
// free) has LibTorch's allocator instead.
const cacheOff = process.env.HEXA_TORCH_NO_CPU_CACHING === '1';
const withCache = describe.skipIf(cacheOff);

it('ops run and settle in the order they were called, even a cheap one queued behind a slow one', async () => {
  const a = await rand([700, 700]);
  const order: string[] = [];
  // Unawaited: with a pool of threads the tiny op would finish long before the products.
  const slow = a.matmul(a).then(async (x) => { order.push('slow'); return x; });
  const slow2 = a.matmul(a).then(async (x) => { order.push('slow2'); return x; });
  const tiny = zeros([1]).then((x) => { order.push('tiny'); return x; });
  const results = await Promise.all([tiny, slow2, slow]);
  expect(order).toEqual(['slow', 'slow2', 'tiny']);
  for (const r of results) r.dispose();
  a.dispose();
});

withCache(`the CPU caching allocator${cacheOff ? ' (skipped: HEXA_TORCH_NO_CPU_CACHING=1 turned it off in this process)' : ''}`, () => {
  it('the CPU cache hands a freed large block to the next allocation of its size class, with correct contents', async () => {
    cpu.setCacheLimit(2 ** 30);
    await cpu.emptyCache();
    const before = cpu.cacheStats();
    const big = await rand([1 << 20]);  // 4 MiB: cached
    expect(cpu.cacheStats().inUseBytes).toBeGreaterThanOrEqual(before.inUseBytes + 4 * 2 ** 20);
    big.dispose();
    const idle = cpu.cacheStats();
    expect(idle.cachedBytes).toBeGreaterThanOrEqual(4 * 2 ** 20);
    // A slightly smaller request falls in the same size class (1/8 of a power of two) and
    // reuses the dirty block: zeros() must still read as zeros.
    const again = await zeros([(1 << 20) - 1000]);
    const after = cpu.cacheStats();
    expect(after.hits).toBe(idle.hits + 1);
    expect(after.cachedBytes).toBe(idle.cachedBytes - 4 * 2 ** 20);
    const values = await again.data();
    expect(values.every((v) => v === 0)).toBe(true);
    again.dispose();
  });

  it('small tensors bypass the cache; the limit bounds what is kept; emptyCache frees it all', async () => {
    cpu.setCacheLimit(2 ** 30);
    const s0 = cpu.cacheStats();
    const small = await rand([1000]);
    small.dispose();
    expect(cpu.cacheStats().hits + cpu.cacheStats().misses).toBe(s0.hits + s0.misses);

    const big = await rand([1 << 20]);
    big.dispose();
    expect(cpu.cacheStats().cachedBytes).toBeGreaterThan(0);
    await cpu.emptyCache();
    expect(cpu.cacheStats().cachedBytes).toBe(0);

    cpu.setCacheLimit(0);
    expect(cpu.cacheStats().limitBytes).toBe(0);
    const other = await rand([1 << 20]);
    other.dispose();
    expect(cpu.cacheStats().cachedBytes).toBe(0);  // nothing kept over the limit
    expect(() => cpu.setCacheLimit(-1)).toThrow(/cpu\.setCacheLimit.*bytes/);
    expect(() => cpu.setCacheLimit('1' as never)).toThrow(TypeError);
  });

  it('mid-sized tensors (64 KiB to 1 MiB) are cached too: glibc would mmap and unmap them each time', async () => {
    cpu.setCacheLimit(2 ** 30);
    await cpu.emptyCache();
    const s0 = cpu.cacheStats();
    const mid = await zeros([32768]);  // 128 KiB: glibc's first mmap threshold
    const s1 = cpu.cacheStats();
    expect(s1.hits + s1.misses).toBe(s0.hits + s0.misses + 1);
    expect(s1.inUseBytes).toBe(s0.inUseBytes + 128 * 1024);
    mid.dispose();
    expect(cpu.cacheStats().cachedBytes).toBe(128 * 1024);
  });

  it('a training step at a steady shape touches no fresh memory: a handful of page faults, not thousands', () => {
    // The allocator's purpose, as the kernel counts it, in a fresh process. With the cache's
    // floor at 1 MiB (until 2026-12-01) the step's 128 KiB - 1 MiB tensors were mmapped or
    // trimmed off the arena again every step: ~4,900 minor faults per step; now ~40.
    const { faultsPerStep } = childSummary('support/step-faults-child.ts', [], 120_000) as { faultsPerStep: number };
    console.log(`minor page faults per HEXA_MoCo step: ${faultsPerStep}`);
    expect(faultsPerStep).toBeLessThan(800);
  });
});

it('HEXA_TORCH_NO_CPU_CACHING=1 leaves LibTorch\'s allocator in place; any other value keeps the cache', () => {
  // A child process each: the variable is read when the addon loads.
  const off = childSummary('support/cpu-cache-child.ts', [], 60_000, { HEXA_TORCH_NO_CPU_CACHING: '1' });
  expect(off).toEqual({ enabled: false, cachedBytes: 0, inUseBytes: 0, limitBytes: 0, hits: 0, misses: 0, newHits: 0, newMisses: 0, allZero: true });
  for (const value of ['0', '']) {
    // The cache on: the second 4 MiB tensor reuses the first one's freed block.
    const on = childSummary('support/cpu-cache-child.ts', [], 60_000, { HEXA_TORCH_NO_CPU_CACHING: value });
    expect(on).toMatchObject({ enabled: true, allZero: true });
    expect(on.newHits).toBeGreaterThanOrEqual(1);
    expect(on.limitBytes).toBeGreaterThan(0);
  }
  expect(cpu.cacheStats().enabled).toBe(!cacheOff);
});

it("LibTorch's profiler records the ops between start and stop, nested by interval", async () => {
  const a = await rand([64, 64]);
  await profiler.start();
  const b = await a.matmul(a);
  const ops = await profiler.stop();
  const mm = ops.filter((o) => o.name === 'aten::mm' || o.name === 'aten::matmul');
  expect(mm.length).toBeGreaterThanOrEqual(1);
  for (const o of ops) expect(o.endUs).toBeGreaterThanOrEqual(o.startUs);
  const matmul = ops.find((o) => o.name === 'aten::matmul')!;
  const inner = ops.find((o) => o.name === 'aten::mm')!;
  expect(matmul).toBeDefined();
  expect(inner.startUs >= matmul.startUs && inner.endUs <= matmul.endUs).toBe(true);
  await expect(profiler.stop()).rejects.toThrow(/profiler\.stop.*not running/);
  a.dispose();
  b.dispose();
});

it("the profiler names our fused kernels as ATen's ops are named", async () => {
  // A kernel called outside any ATen op (a trainer's direct call, the forward inside a custom
  // autograd Function) would otherwise be time the profile cannot attribute.
  const x = await rand([8, 3, 4, 4]), x0 = await rand([8, 3, 4, 4]), g = await rand([8, 3, 4, 4]);
  await profiler.start();
  const y = await kernels.pgdStep(x, x0, g, { eps: 0.1, stepSize: 0.01 });
  const ops = await profiler.stop();
  const pgd = ops.filter((o) => o.name === 'hexa::pgdStep');
  expect(pgd).toHaveLength(1);
  expect(pgd[0].endUs).toBeGreaterThanOrEqual(pgd[0].startUs);
  for (const t of [x, x0, g, y]) t.dispose();
});

it('a process that exits with the profiler still running exits cleanly, without LibTorch\'s leak warning', () => {
  // The compute thread stops the profiler as it exits; before, its thread-local state died
  // running and LibTorch printed "Leaked callback handle" (found by a long fuzz run).
  const { summary, stderr } = childRun('support/profiler-exit-child.ts', [], 60_000);
  expect(summary).toEqual({ started: true });
  expect(stderr).not.toContain('Leaked callback handle');
});
