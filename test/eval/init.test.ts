// `hexa train --init <weights.safetensors>`: pre-training starts from torchvision-named weights.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { loadSafetensors, resolveConfig, saveSafetensors, train, TrainerModel, untrainedBackbone } from '../../lib/index.js';
import { initBackbone } from '../../lib/train/init.js';
import { writeSyntheticMnist } from './synthetic-mnist.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hexa-init-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function weights(width: number, seed: number, file: string): Promise<Record<string, number[]>> {
  const b = await untrainedBackbone({ arch: 'resnet18', width, cifarStem: true, mean: [0, 0, 0], std: [1, 1, 1] }, seed);
  try {
    await saveSafetensors(file, b.state);
    return Object.fromEntries(await Promise.all(Object.entries(b.state).map(async ([k, t]) => [k, Array.from((await t.data()) as ArrayLike<number | bigint>, Number)] as const)));
  } finally {
    b.dispose();
  }
}

it('--init puts the weights into every backbone copy (MoCo query and key); a run with 0 epochs exports them unchanged', async () => {
  const file = path.join(dir, 'w4.safetensors');
  const expected = await weights(4, 21, file);
  const config = resolveConfig({ method: 'moco', width: 4, cifarStem: true, moco: { queueSize: 16 }, init: file });
  const model = await TrainerModel.create(config, { viewSize: 16, datasetSize: 8 });
  try {
    await initBackbone(model, file);
    const state = await model.state();
    for (const prefix of ['query', 'key']) {
      for (const [k, v] of Object.entries(expected)) expect(Array.from((await state[`${prefix}.backbone.${k}`].data()) as ArrayLike<number | bigint>, Number), `${prefix}.${k}`).toEqual(v);
    }
    Object.values(state).forEach((t) => t.dispose());
  } finally {
    model.dispose();
  }
  const data = writeSyntheticMnist(path.join(dir, 'mnist'), 32, 8);
  const out = path.join(dir, 'run');
  await train(resolveConfig({ method: 'moco', data, width: 4, epochs: 0, batchSize: 8, moco: { queueSize: 16 }, knnEvery: -1, out, init: file }));
  const { tensors } = await loadSafetensors(path.join(out, 'backbone.safetensors'));
  for (const [k, v] of Object.entries(expected)) expect(Array.from((await tensors[k].data()) as ArrayLike<number | bigint>, Number), k).toEqual(v);
  Object.values(tensors).forEach((t) => t.dispose());
}, 120_000);

it('--init refuses weights of another width, foreign tensors and truncated files with a clear error', async () => {
  const file = path.join(dir, 'w8.safetensors');
  await weights(8, 1, file);
  const config = resolveConfig({ method: 'dcluster', width: 4, cifarStem: true });
  const model = await TrainerModel.create(config, { viewSize: 16, datasetSize: 8 });
  try {
    await expect(initBackbone(model, file)).rejects.toThrow(/--init: .*w8\.safetensors: 'bn1\.bias' is float32 \[8\], a resnet18 of width 4 \(this run's arch, width and stem\) has float32 \[4\]|conv1\.weight' is float32 \[8,3,3,3\]/);
    const truncated = path.join(dir, 'cut.safetensors');
    fs.writeFileSync(truncated, fs.readFileSync(file).subarray(0, 200));
    await expect(initBackbone(model, truncated)).rejects.toThrow(/cut\.safetensors/);
  } finally {
    model.dispose();
  }
  expect(() => resolveConfig({ init: 3 })).toThrow(/init/);
});

it("--init takes files saved without BN batch counters or in float64 (converted to the network's float32)", async () => {
  const file = path.join(dir, 'w4-old.safetensors');
  const expected = await weights(4, 8, path.join(dir, 'w4-new.safetensors'));
  const { tensors } = await loadSafetensors(path.join(dir, 'w4-new.safetensors'));
  const old: Record<string, import('../../lib/index.js').Tensor> = {};
  for (const [k, t] of Object.entries(tensors)) if (!k.endsWith('num_batches_tracked')) old[k] = t.dtype === 'float32' ? await t.to('float64') : t;
  await saveSafetensors(file, old);
  Object.values(tensors).forEach((t) => t.dispose());
  Object.values(old).forEach((t) => t.dispose());
  const model = await TrainerModel.create(resolveConfig({ method: 'moco', width: 4, cifarStem: true, moco: { queueSize: 16 } }), { viewSize: 16, datasetSize: 8 });
  try {
    await initBackbone(model, file);
    const state = await model.state();
    for (const [k, v] of Object.entries(expected)) {
      if (k.endsWith('num_batches_tracked')) expect(Array.from((await state[`query.backbone.${k}`].data()) as BigInt64Array, Number)).toEqual([0]);
      else expect(Array.from((await state[`query.backbone.${k}`].data()) as Float32Array), k).toEqual(v);
    }
    Object.values(state).forEach((t) => t.dispose());
  } finally {
    model.dispose();
  }
});
