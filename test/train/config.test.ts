import { cuda } from '../../lib/runtime.js';
import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULTS, migrateConfig, resolveConfig } from '../../lib/train/config.js';
import { presetOf } from '../../lib/train/methods/index.js';
import { EMBEDDED_DEFAULT } from '../../lib/train/presets.js';
import { cosineWithWarmup } from '../../lib/train/schedule.js';

describe('training config', () => {
  it('defaults follow the method doc (CIFAR values)', () => {
    const c = resolveConfig();
    expect(c.method).toBe('hexa-moco');
    expect(c.moco.temperature).toBe(0.2);
    expect(c.moco.keyMomentum).toBe(0.99);
    expect(c.moco.queueSize).toBe(4096);
    expect(c.dcluster.temperature).toBe(0.1);
    expect(c.dcluster.kmeansIterations).toBe(10);
    expect(c.adversarial).toEqual({ norm: 'linf', eps: 8 / 255, stepSize: 2 / 255, steps: 2, randomStart: true, auxBN: false, weight: 1 });
    expect(c.cutmix).toEqual({ alpha: 1, weight: 1 });
    expect(c.sgdMomentum).toBe(0.9);
    expect(c.weightDecay).toBe(1e-4);
  });

  it('layers merge in order, strings from flags are parsed, nested sections merge key by key over earlier layers', () => {
    const c = resolveConfig(EMBEDDED_DEFAULT, { epochs: '7', adversarial: { eps: '0.01' }, cifarStem: 'false', moco: { queueSize: '100' } });
    expect(c.epochs).toBe(7);
    expect(c.width).toBe(EMBEDDED_DEFAULT.width);
    // the preset's milder attack stays, only eps changes
    expect(c.adversarial).toEqual({ ...DEFAULTS.adversarial, ...(EMBEDDED_DEFAULT.adversarial as object), eps: 0.01 });
    expect(c.adversarial!.steps).toBe(1);
    expect(c.moco).toEqual({ ...DEFAULTS.moco, temperature: 0.1, queueSize: 100 });
    expect(c.cifarStem).toBe(false);
  });

  it('the dcluster section: lists from flags, ranges, head sizes', () => {
    const c = resolveConfig({ method: 'dcluster', dcluster: { prototypes: '300,200', smallCrops: '2', smallCropScale: '0.05,0.2' } });
    expect(c.dcluster.prototypes).toEqual([300, 200]);
    expect(c.dcluster.smallCropScale).toEqual([0.05, 0.2]);
    expect(c.dcluster.largeCropScale).toEqual([0.08, 1]);
    expect(() => resolveConfig({ dcluster: { prototypes: '300,x' } })).toThrow(/dcluster.prototypes\[1\] must be an integer/);
    expect(() => resolveConfig({ dcluster: { smallCropScale: '0.5,0.2' } })).toThrow(/dcluster.smallCropScale must be \[min, max\] with min <= max/);
    expect(() => resolveConfig({ dcluster: { smallCropScale: [0.1] } })).toThrow(/dcluster.smallCropScale must be 2 numbers/);
    expect(() => resolveConfig({ dcluster: { k: 3 } })).toThrow(/unknown key dcluster.k /);
  });

  it('refuses options that would silently switch off what the method is for', () => {
    expect(() => resolveConfig({ method: 'hexa-moco', epochs: 1, hardViewStartEpoch: 1 })).toThrow(ConfigError);
    expect(() => resolveConfig({ method: 'hexa-dcluster', epochs: 2, hardViewStartEpoch: 3 })).toThrow(/hardViewStartEpoch 3 >= epochs 2: 'hexa-dcluster' would never use its hard views/);
    expect(() => resolveConfig({ method: 'hexa-moco', adversarial: null, cutmix: 'off' })).toThrow(/use --method moco/);
    // the base methods ignore hard-view keys: nothing to switch off
    expect(resolveConfig({ method: 'dcluster', epochs: 1, hardViewStartEpoch: 1 }).adversarial).toBeNull();
  });

  it('every preset resolves; --method alone picks that method\'s preset', () => {
    for (const m of ['moco', 'hexa-moco', 'dcluster', 'hexa-dcluster'] as const) {
      const c = resolveConfig(presetOf(m));
      expect(c.method).toBe(m);
      expect(c.trainSubset).toBe(10000);
      if (!m.startsWith('hexa-')) expect([c.adversarial, c.cutmix]).toEqual([null, null]);
    }
    expect(EMBEDDED_DEFAULT.method).toBe('hexa-moco');
  });

  it('an old MoCo checkpoint config (flat queueSize/temperature/keyMomentum) migrates into the moco section', () => {
    const old = { method: 'hexa-moco', queueSize: 40, temperature: 0.1, keyMomentum: 0.9, adversarial: { eps: 0.01, stepSize: 0.01, steps: 1, randomStart: true, auxBN: false, weight: 1 } };
    const c = resolveConfig(migrateConfig(old));
    expect(c.moco).toEqual({ queueSize: 40, temperature: 0.1, keyMomentum: 0.9, shuffleBN: true });
    expect(c.adversarial!.norm).toBe('linf');
    expect(() => resolveConfig(old)).toThrow(/unknown config key 'queueSize'/);
  });

  it('moco switches both hard views off; null switches one off', () => {
    expect(resolveConfig({ method: 'moco' })).toMatchObject({ adversarial: null, cutmix: null });
    expect(resolveConfig({ cutmix: null })).toMatchObject({ cutmix: null, adversarial: DEFAULTS.adversarial });
  });

  it('names the key, the expectation and the value on bad input', () => {
    expect(() => resolveConfig({ lrr: 1 })).toThrow(/unknown config key 'lrr'/);
    expect(() => resolveConfig({ adversarial: { epsilon: 1 } })).toThrow(/unknown key adversarial.epsilon/);
    expect(() => resolveConfig({ batchSize: 0 })).toThrow(/batchSize must be an integer in \[1, 1000000\], got 0/);
    expect(() => resolveConfig({ lr: 'fast' })).toThrow(/lr must be a number/);
    expect(() => resolveConfig({ moco: { temperature: NaN } })).toThrow(/moco.temperature must be a number/);
    expect(() => resolveConfig({ device: 'tpu' })).toThrow(/device must be 'auto', 'cpu', 'cuda' or 'cuda:N'/);
    // 'auto' (the default) resolves to the device the run will use.
    expect(resolveConfig({}).device).toBe(cuda.isAvailable() ? 'cuda' : 'cpu');
    expect(resolveConfig({ device: 'auto' }).device).toBe(cuda.isAvailable() ? 'cuda' : 'cpu');
    expect(resolveConfig({ device: 'cpu' }).device).toBe('cpu');
    expect(() => resolveConfig({ adversarial: { steps: 1.5 } })).toThrow(/adversarial.steps must be an integer/);
  });
});

describe('cosine schedule with warmup', () => {
  it('warms up linearly, then follows 0.5·(1 + cos(π·t)) to 0', () => {
    expect(cosineWithWarmup(0, 100, 1, 10)).toBeCloseTo(0.1, 12);
    expect(cosineWithWarmup(9, 100, 1, 10)).toBeCloseTo(1, 12);
    expect(cosineWithWarmup(10, 100, 1, 10)).toBeCloseTo(1, 12);
    expect(cosineWithWarmup(55, 100, 2, 10)).toBeCloseTo(1, 12); // halfway through the decay
    expect(cosineWithWarmup(100, 100, 1, 10)).toBeCloseTo(0, 12);
    expect(cosineWithWarmup(25, 100, 1)).toBeCloseTo(0.5 * (1 + Math.cos(Math.PI / 4)), 12);
    expect(() => cosineWithWarmup(0, 0, 1)).toThrow(RangeError);
    // with a final rate: final + 0.5·(base − final)·(1 + cos(π·t))
    expect(cosineWithWarmup(100, 100, 1, 10, 0.01)).toBeCloseTo(0.01, 12);
    expect(cosineWithWarmup(55, 100, 2, 10, 0.5)).toBeCloseTo(1.25, 12);
  });
});
