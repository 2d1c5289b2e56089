// Requests that fit in the address space but not in memory are refused up front, with a
// RangeError naming the function and the argument, instead of running until the kernel's OOM
// killer ends the process (sampleCutmix with n near 2^31 touched ~200 GB) or failing deep in
// LibTorch's allocator with a message that names no argument. Every case needs far more
// memory than any machine the suite runs on; one that would fit here is skipped, saying so.
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { kernels, knnPredict, rand, tensor, type Tensor, zeros } from '../lib/index.js';

const GiB = 2 ** 30;
const M = 2 ** 20;
const f32 = (n: number, shape: number[]) => tensor(new Float32Array(n).fill(0.5), shape);
const i64 = (n: number) => tensor(new BigInt64Array(n), [n]);
const refusal = (fn: string, what: string) =>
  new RegExp(`^${fn}: ${what} needs about \\d+(\\.\\d)? GiB of memory, more than this machine has \\(\\d+(\\.\\d)? GiB\\)$`);
const esc = (s: string) => s.replace(/[[\]().+]/g, (c) => `\\${c}`);

interface Case {
  name: string;
  /** Bytes the request needs (at least). */
  need: number;
  call: () => Promise<unknown>;
  message: RegExp;
}

const made: Tensor[] = [];
const keep = (t: Tensor) => (made.push(t), t);
const cases: Case[] = [
  { name: 'sampleCutmix n = 2^31', need: 2 ** 31 * 88, call: () => kernels.sampleCutmix(2 ** 31, 8, 8), message: refusal('sampleCutmix', 'n = 2147483648') },
  { name: 'zeros of 2^39 float32', need: 2 ** 41, call: () => zeros([M, M / 2]), message: refusal('zeros', esc('shape [1048576, 524288] (float32)')) },
  { name: 'rand of 2^38', need: 2 ** 38 * 12, call: () => rand([2 ** 38]), message: refusal('rand', esc('shape [274877906944] (drawn in float64 on the cpu)')) },
  {
    name: 'matmul [2^20, 1] x [1, 2^20]',
    need: 2 ** 42,
    call: () => keep(f32(M, [M, 1])).matmul(keep(f32(M, [1, M]))),
    message: refusal('matmul', esc('the product of a [1048576, 1] and b [1, 1048576] ([1048576, 1048576])')),
  },
  {
    name: 'add broadcasting [2^20, 1] + [1, 2^20]',
    need: 2 ** 42,
    call: () => keep(f32(M, [M, 1])).add(keep(f32(M, [1, M]))),
    message: refusal('add', esc('the broadcast of a [1048576, 1] and b [1, 1048576] ([1048576, 1048576])')),
  },
  {
    name: 'index selecting 2^20 rows of 2^20',
    need: 2 ** 42,
    call: () => keep(f32(M, [1, M])).index(0, keep(i64(M))),
    message: refusal('index', esc('indices (1048576 of them, each selecting 1048576 elements)')),
  },
  {
    name: 'cutmixTargets with 2^40 columns',
    need: 4 * 2 ** 40 * 8,
    call: () => kernels.cutmixTargets(keep(tensor(new Float64Array(4), [4])), keep(tensor(new BigInt64Array([0n, 1n, 2n, 3n]), [4])), 2 ** 40),
    message: refusal('cutmixTargets', esc('numColumns = 1099511627776 (a [4, numColumns] result)')),
  },
  {
    name: 'kmeansAssign with a [2^20, 2^20] chunk',
    need: 2 ** 42,
    call: () => kernels.kmeansAssign(keep(f32(M, [M, 1])), keep(f32(M, [M, 1])), { chunkSize: M }),
    message: refusal('kmeansAssign', esc('options.chunkSize = 1048576 (a [chunkSize, K] = [1048576, 1048576] buffer)')),
  },
  {
    name: 'clusterCE with [2^20, 2^20] logits',
    need: 2 ** 42,
    call: () => kernels.clusterCE(keep(f32(M, [M, 1])), keep(f32(M, [M, 1])), keep(i64(M))),
    message: refusal('clusterCE', esc('z and prototypes (a logits buffer of [N, K] = [1048576, 1048576])')),
  },
  {
    name: 'infoNCE with [2^20, 2^20 + 1] logits',
    need: 2 ** 42,
    call: () => kernels.infoNCE(keep(f32(M, [M, 1])), keep(f32(M, [M, 1])), keep(f32(M, [M, 1]))),
    message: refusal('infoNCE', esc('q and queue (a logits buffer of [N, K+1] = [1048576, 1048577])')),
  },
  {
    name: 'knnPredict with [2^20, 2^20] similarities',
    need: 2 ** 42,
    call: () => knnPredict(keep(f32(M, [M, 1])), keep(i64(M)), keep(f32(M, [M, 1])), 10, { chunk: M }),
    message: refusal('knnPredict', esc('options.chunk = 1048576 and options.classes = 10 (with a bank of 1048576)')),
  },
];

describe('requests larger than memory are refused up front, naming the function and argument', () => {
  for (const c of cases) {
    const fits = c.need <= os.totalmem();
    it.skipIf(fits)(`${c.name}${fits ? ` (skipped: this machine has ${(os.totalmem() / GiB).toFixed(0)} GiB, enough to run it)` : ''}`, async () => {
      const started = Date.now();
      const err = await c.call().then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(RangeError);
      expect((err as Error).message).toMatch(c.message);
      expect(Date.now() - started).toBeLessThan(5000); // refused, not attempted
    });
  }
  it('frees the inputs', () => made.forEach((t) => t.dispose()));
});

