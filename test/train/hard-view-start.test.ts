// hardViewStartEpoch: the epochs before it are plain MoCo-v2 steps (no attack, no CutMix
// pass), the ones from it on carry both hard-view terms; the key is validated like any other.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { ConfigError, DEFAULTS, resolveConfig } from '../../lib/train/config.js';
import { EMBEDDED_DEFAULT } from '../../lib/train/presets.js';
import { train } from '../../lib/train/run.js';

it('epochs before hardViewStartEpoch have no hard-view terms, later ones have both', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hexa-hvstart-'));
  try {
    const config = resolveConfig({ data: 'cifar10', trainSubset: 32, batchSize: 16, epochs: 3, width: 4, moco: { queueSize: 40 }, knnEvery: -1, seed: 2, hardViewStartEpoch: 2, out: tmp });
    await train(config);
    const steps = fs.readFileSync(path.join(tmp, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((m) => m.type === 'step');
    expect(steps.map((s) => s.epoch)).toEqual([0, 0, 1, 1, 2, 2]);
    for (const s of steps) {
      if (s.epoch < 2) expect([s.lossAdv, s.lossMix, s.loss], `epoch ${s.epoch}`).toEqual([0, 0, s.lossClean]);
      else {
        expect(s.lossAdv).toBeGreaterThan(0);
        expect(s.lossMix).toBeGreaterThan(0);
        expect(s.loss).toBeCloseTo(s.lossClean + s.lossAdv + s.lossMix, 10); // weights 1
      }
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}, 300_000);

it('hardViewStartEpoch: default 0 (the method doc), 1 in the embedded default, validated', () => {
  expect(DEFAULTS.hardViewStartEpoch).toBe(0);
  expect(EMBEDDED_DEFAULT.hardViewStartEpoch).toBe(1);
  expect(resolveConfig({ hardViewStartEpoch: '3' }).hardViewStartEpoch).toBe(3);
  expect(() => resolveConfig({ hardViewStartEpoch: -1 })).toThrow(ConfigError);
  expect(() => resolveConfig({ hardViewStartEpoch: 1.5 })).toThrow(/hardViewStartEpoch must be an integer in \[0, 1000000\], got 1.5/);
});
