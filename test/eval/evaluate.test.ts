// evaluate() end to end on a tiny run: a checkpoint and its exported backbone evaluate to the
// same numbers, results are written only when complete, foreign and broken files are refused.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backboneFeatures, CIFAR_NORMALIZATION, evaluate, Generator, loadBackbone, loadSafetensors, rand, resolveConfig, saveSafetensors, scope, tensor, train, type EvalResult, type EvaluateOptions, type Tensor } from '../../lib/index.js';
import { exportTorchvision } from '../../lib/eval/backbone.js';
import { writeSyntheticMnist } from './synthetic-mnist.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hexa-eval-'));
const run = path.join(dir, 'run');
let data = '';
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const quick = { fineTuneSteps: 3, fineTuneBatchSize: 8, fractions: [0.1, 0.5], linear: { epochs: 5, sweepEpochs: 2, lrs: [0.1, 1], weightDecays: [0] } };

beforeAll(async () => {
  data = writeSyntheticMnist(path.join(dir, 'mnist'), 80, 40);
  await train(resolveConfig({ method: 'moco', data, width: 4, epochs: 1, batchSize: 16, moco: { queueSize: 32 }, knnEvery: -1, out: run, seed: 3 }));
}, 120_000);

/** What must agree between two evaluations of the same weights (not where they came from, nor timings). */
const numbers = (r: EvalResult) => ({ results: r.results, backbone: r.backbone, train: r.trainImages, test: r.testImages, classes: r.classes });

describe('evaluate', () => {
  it('a checkpoint and its exported backbone give the same numbers, written as JSON, a table and the subsets', async () => {
    const fromCheckpoint = await evaluate(run, { ...quick, out: path.join(dir, 'e1') });
    const fromExport = await evaluate(path.join(run, 'backbone.safetensors'), { ...quick, out: path.join(dir, 'e2') });
    const strip = (r: EvalResult) => JSON.parse(JSON.stringify(numbers(r)).replaceAll(path.join(dir, 'e1'), 'OUT').replaceAll(path.join(dir, 'e2'), 'OUT'));
    expect(strip(fromExport)).toEqual(strip(fromCheckpoint));
    const r = fromCheckpoint;
    expect(r.data).toBe(data); // the run's data, from its config
    expect(Object.keys(r.results)).toEqual(['trained', 'untrained', 'raw pixels']);
    expect(r.results.trained.knn!.top1).toBeGreaterThanOrEqual(0);
    expect(r.results['raw pixels'].linear!.top1).toBeGreaterThan(0.9); // the classes are bright squares: pixels separate them
    expect(r.results.trained.finetune!.map((f) => f.images)).toEqual([8, 40]);
    expect(r.results['raw pixels'].finetune).toBeUndefined();
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'e1', 'eval.json'), 'utf8'));
    expect(json.results).toEqual(JSON.parse(JSON.stringify(r.results)));
    expect(fs.readFileSync(path.join(dir, 'e1', 'eval.txt'), 'utf8')).toMatch(/linear probe top-1 +\d+\.\d\d%/);
    const subset = JSON.parse(fs.readFileSync(r.results.trained.finetune![0].subset, 'utf8'));
    expect(subset.datasetIndices).toHaveLength(8);
    expect(new Set(subset.labels).size).toBe(4);
    expect(fs.readdirSync(path.join(dir, 'e1')).filter((f) => f.includes('.tmp-'))).toEqual([]);
  }, 300_000);

  it("a DeepCluster checkpoint loads (its bank is sized by the run's data) to the backbone it exported", async () => {
    const out = path.join(dir, 'dcluster');
    await train(resolveConfig({ method: 'dcluster', data, width: 4, epochs: 1, batchSize: 16, knnEvery: -1, out, seed: 1 }));
    const fromCheckpoint = await loadBackbone(out);
    const fromExport = await loadBackbone(path.join(out, 'backbone.safetensors'));
    try {
      expect(fromCheckpoint.source).toMatch(/checkpoints\/last\.json$/);
      expect(Object.keys(fromCheckpoint.state).sort()).toEqual(Object.keys(fromExport.state).sort());
      for (const [k, t] of Object.entries(fromExport.state)) {
        expect(Array.from((await fromCheckpoint.state[k].data()) as ArrayLike<number | bigint>, Number), k).toEqual(Array.from((await t.data()) as ArrayLike<number | bigint>, Number));
      }
    } finally {
      fromCheckpoint.dispose();
      fromExport.dispose();
    }
  }, 120_000);

  it('loads torchvision files saved without BN batch counters or in float64: the same features', async () => {
    const old = path.join(dir, 'old-style.safetensors');
    await scope(async () => {
      const b = await loadBackbone(path.join(run, 'backbone.safetensors'));
      try {
        const state: Record<string, Tensor> = {};
        for (const [k, t] of Object.entries(b.state)) if (!k.endsWith('num_batches_tracked')) state[k] = t.dtype === 'float32' ? await t.to('float64') : t;
        await saveSafetensors(old, state, { format: 'torchvision-resnet-backbone' });
        const images = await (await (await rand([4, 1, 16, 16], { generator: new Generator(3) })).mul(255)).to('uint8');
        const a = await loadBackbone(old);
        try {
          expect(Object.keys(state).some((k) => k.includes('num_batches'))).toBe(false);
          const fa = Array.from((await (await backboneFeatures(a, images)).data()) as Float32Array);
          const fb = Array.from((await (await backboneFeatures(b, images)).data()) as Float32Array);
          expect(fa).toEqual(fb);
        } finally {
          a.dispose();
        }
      } finally {
        b.dispose();
      }
    });
  }, 60_000);

  it('stopped evaluations write nothing', async () => {
    let calls = 0;
    await expect(evaluate(run, { ...quick, out: path.join(dir, 'stopped'), shouldStop: () => ++calls > 4 })).rejects.toThrow(/stopped; no results were written/);
    expect(fs.existsSync(path.join(dir, 'stopped'))).toBe(false);
  }, 120_000);

  it('refuses foreign, truncated and mismatched weights with a clear error', async () => {
    await expect(loadBackbone(path.join(dir, 'missing.safetensors'))).rejects.toThrow(/does not exist/);
    const truncated = path.join(dir, 'truncated.safetensors');
    const whole = fs.readFileSync(path.join(run, 'backbone.safetensors'));
    fs.writeFileSync(truncated, whole.subarray(0, whole.length - 100));
    await expect(loadBackbone(truncated)).rejects.toThrow(/truncated\.safetensors/);
    const foreign = path.join(dir, 'foreign.safetensors');
    await scope(() => saveSafetensors(foreign, { 'encoder.weight': tensor(new Float32Array(4), [2, 2]) }));
    await expect(loadBackbone(foreign)).rejects.toThrow(/not a torchvision ResNet backbone/);
    // A ResNet-18's weights plus a third block in layer1 (a resnet34 shape) must not load as a resnet18.
    const extra = path.join(dir, 'extra.safetensors');
    await scope(async () => {
      const b = await loadBackbone(path.join(run, 'backbone.safetensors'));
      try {
        await saveSafetensors(extra, { ...b.state, 'layer1.2.conv1.weight': b.state['layer1.0.conv1.weight'] });
      } finally {
        b.dispose();
      }
    });
    await expect(evaluate(extra, { ...quick, data, out: path.join(dir, 'e3') })).rejects.toThrow(/'layer1\.2\.conv1\.weight' that a resnet18 of width 4 \(CIFAR stem\) does not have/);
    expect(fs.existsSync(path.join(dir, 'e3', 'eval.json'))).toBe(false);
  }, 120_000);

  it("refuses an option it does not know, naming it (the CLI's flag names are not evaluate()'s), before any work", async () => {
    const out = path.join(dir, 'e4');
    const refused = (options: object) => evaluate(run, { ...quick, out, ...options } as EvaluateOptions);
    await expect(refused({ linearLrs: [0.1] })).rejects.toThrow(/^evaluate: unknown option linearLrs \(known: data, val, .*shouldStop\)$/);
    await expect(refused({ mean: [0.5, 0.5, 0.5] })).rejects.toThrow(/^evaluate: unknown option mean /);
    await expect(refused({ linear: { lr: [1] } })).rejects.toThrow(/^evaluate: unknown option linear\.lr \(known: lrs, weightDecays, /);
    await expect(refused({ normalization: { ...CIFAR_NORMALIZATION, scale: 2 } })).rejects.toThrow(/^evaluate: unknown option normalization\.scale /);
    await expect(refused({ linearLrs: [0.1] })).rejects.toBeInstanceOf(TypeError);
    expect(fs.existsSync(out)).toBe(false);
  });

  it("the training run's backbone.safetensors carries the same metadata as hexa export's file: stem and normalisation too", async () => {
    const trained = await loadSafetensors(path.join(run, 'backbone.safetensors'));
    const exported = await exportTorchvision(run, path.join(dir, 'exported'));
    const fromExport = await loadSafetensors(exported.safetensors);
    try {
      expect(trained.metadata).toEqual({
        format: 'torchvision-resnet-backbone', arch: 'resnet18', width: '4', cifarStem: 'true',
        mean: CIFAR_NORMALIZATION.mean.join(','), std: CIFAR_NORMALIZATION.std.join(','),
      });
      expect(fromExport.metadata).toEqual(trained.metadata);
    } finally {
      for (const t of [...Object.values(trained.tensors), ...Object.values(fromExport.tensors)]) t.dispose();
    }
  });
});
