import { expect, it } from 'vitest';
import { knnPredict } from '../../lib/eval/knn.js';
import { cuda, Generator, randn, tensor } from '../../lib/index.js';
import { torchReference } from '../support/torch-reference.js';

it('kNN predictions equal a PyTorch reference (cosine top-k, exp(sim/τ) votes)', async () => {
  const g = new Generator(4);
  const bank = await randn([301, 17], { generator: g, dtype: 'float64' });
  const queries = await randn([53, 17], { generator: g, dtype: 'float64' });
  const labels = tensor(BigInt64Array.from({ length: 301 }, (_, i) => BigInt((i * 7) % 5)), [301]);
  for (const [k, tau, chunk] of [[200, 0.1, 256], [7, 0.5, 10], [1, 1, 1]] as const) {
    const ours = Array.from((await (await knnPredict(bank, labels, queries, 5, { k, temperature: tau, chunk })).data()) as BigInt64Array, Number);
    const ref = torchReference(
      `
import torch.nn.functional as F
b, q, l = F.normalize(inp['b'], dim=1), F.normalize(inp['q'], dim=1), inp['l'].long()
v, i = (q @ b.t()).topk(${k}, dim=1)
votes = torch.zeros(q.shape[0], 5, dtype=v.dtype).scatter_add_(1, l[i], (v / ${tau}).exp())
out['pred'] = votes.argmax(1)`,
      { b: { data: (await bank.data()) as Float64Array, shape: bank.shape }, q: { data: (await queries.data()) as Float64Array, shape: queries.shape }, l: { data: (await labels.data()) as BigInt64Array, shape: [301] } },
    );
    expect(ours).toEqual(Array.from(ref.pred.data));
  }
  // Analytic: queries equal to bank rows, k = 1: each query gets its own row's label.
  const self = Array.from((await (await knnPredict(bank, labels, bank, 5, { k: 1 })).data()) as BigInt64Array, Number);
  expect(self).toEqual(Array.from((await labels.data()) as BigInt64Array, Number));
  await expect(knnPredict(bank, labels, await randn([3, 4]), 5)).rejects.toThrow(RangeError);
  await expect(knnPredict(bank, labels, await randn([3, 4]), 5)).rejects.toThrow(/^knnPredict: queries must be a Tensor of shape \[N, D\], D = 17 \(the bank's\), got a Tensor of shape \[3, 4\] \(float32, cpu\)$/);
  await expect(knnPredict(bank, tensor(new Float32Array(301), [301]), queries, 5)).rejects.toThrow(TypeError);
  await expect(knnPredict(bank, await labels.reshape([301, 1]), queries, 5)).rejects.toThrow(/^knnPredict: bankLabels must be a Tensor of shape \[M\] = \[301\] \(the bank's rows\)/);
  await expect(knnPredict(bank, labels, queries, 0)).rejects.toThrow(RangeError);
  await expect(knnPredict(bank, labels, queries, 3)).rejects.toThrow(/bankLabels must lie in \[0, classes\)/);
});

it.skipIf(!cuda.isAvailable())('kNN predictions on cuda equal those on the cpu (skipped when no CUDA device: needs a GPU)', async () => {
  const g = new Generator(6);
  const bank = await randn([1000, 32], { generator: g, dtype: 'float64' });
  const queries = await randn([300, 32], { generator: g, dtype: 'float64' });
  const labels = tensor(BigInt64Array.from({ length: 1000 }, (_, i) => BigInt((i * 13) % 10)), [1000]);
  const cpu = await knnPredict(bank, labels, queries, 10, { k: 200, temperature: 0.1, chunk: 128 });
  const gpu = await knnPredict(await bank.to('cuda'), await labels.to('cuda'), await queries.to('cuda'), 10, { k: 200, temperature: 0.1, chunk: 128 });
  expect(gpu.device).toBe('cuda:0');
  expect(Array.from((await gpu.data()) as BigInt64Array)).toEqual(Array.from((await cpu.data()) as BigInt64Array));
});
