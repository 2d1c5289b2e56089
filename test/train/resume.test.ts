// A run interrupted and resumed ends with exactly the weights of a run that was not (CPU,
// bitwise): model, key encoder, optimizer state, queue, pointer and both generators.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { loadSafetensors } from '../../lib/checkpoint/safetensors.js';
import { resolveConfig } from '../../lib/train/config.js';
import { readCheckpointInfo } from '../../lib/train/checkpoint.js';
import { train } from '../../lib/train/run.js';

async function lastState(out: string) {
  const dir = path.join(out, 'checkpoints');
  const info = readCheckpointInfo(path.join(dir, 'last.json'));
  return { info, ...(await loadSafetensors(path.join(dir, info.weights))) };
}

const common = { data: 'cifar10', trainSubset: 48, batchSize: 16, epochs: 2, width: 4, knnEvery: -1, seed: 5, lr: 0.1, warmupEpochs: 1 };
const cases: Array<[string, Record<string, unknown>, string]> = [
  ['HEXA_MoCo', { ...common, moco: { queueSize: 40 } }, 'queue'],
  // DeepCluster: the bank, its assignments and prototypes are state too; multi-crop and LARS on.
  ['HEXA_DCluster', { ...common, method: 'hexa-dcluster', optimizer: 'lars', dcluster: { prototypes: [3, 2], smallCrops: 1 } }, 'bank'],
];

it.each(cases)('%s: stop mid-epoch + --resume == an uninterrupted run, bit for bit', async (_name, base, methodTensor) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hexa-resume-'));
  try {
    const a = await train(resolveConfig(base, { out: path.join(tmp, 'a') }));
    expect(a.stopped).toBe(false);
    expect(a.globalStep).toBe(6);

    let steps = 0;
    const b1 = await train(resolveConfig(base, { out: path.join(tmp, 'b') }), { onStep: () => steps++, stopRequested: () => steps === 4 });
    expect(b1.stopped).toBe(true);
    const mid = readCheckpointInfo(path.join(tmp, 'b', 'checkpoints', 'last.json'));
    expect([mid.epoch, mid.epochStep, mid.globalStep]).toEqual([1, 1, 4]);
    const b2 = await train(resolveConfig(base, { out: path.join(tmp, 'b'), resume: true }));
    expect(b2.stopped).toBe(false);

    const sa = await lastState(path.join(tmp, 'a'));
    const sb = await lastState(path.join(tmp, 'b'));
    expect(sb.info.globalStep).toBe(sa.info.globalStep);
    expect(Object.keys(sb.tensors).sort()).toEqual(Object.keys(sa.tensors).sort());
    expect(Object.keys(sa.tensors).some((k) => k.startsWith('optimizer.'))).toBe(true);
    expect(Object.keys(sa.tensors)).toContain(methodTensor);
    let differing: string[] = [];
    for (const [k, t] of Object.entries(sa.tensors)) {
      const x = Buffer.from((await t.data()).buffer);
      const y = Buffer.from((await sb.tensors[k].data()).buffer);
      if (!x.equals(y)) differing.push(k);
    }
    expect(differing).toEqual([]);
    // And training changed the weights at all (the comparison is not between two untouched states).
    const metrics = fs.readFileSync(path.join(tmp, 'a', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(metrics.filter((m) => m.type === 'step')).toHaveLength(6);
    const resumedSteps = fs.readFileSync(path.join(tmp, 'b', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((m) => m.type === 'step');
    expect(resumedSteps.map((m) => m.globalStep)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(resumedSteps.map((m) => m.loss)).toEqual(metrics.filter((m) => m.type === 'step').map((m) => m.loss));
    for (const s of [sa, sb]) Object.values(s.tensors).forEach((t) => t.dispose());
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}, 600_000);
