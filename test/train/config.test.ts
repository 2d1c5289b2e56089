import { describe, expect, it } from 'vitest';
import { DEFAULTS, EMBEDDED_DEFAULT, resolveConfig } from '../../lib/train/config.js';
import { cosineWithWarmup } from '../../lib/train/schedule.js';

describe('training config', () => {
  it('defaults follow the method doc (CIFAR values)', () => {
    const c = resolveConfig();
    expect(c.method).toBe('hexa-moco');
    expect(c.temperature).toBe(0.2);
    expect(c.keyMomentum).toBe(0.99);
    expect(c.adversarial).toEqual({ eps: 8 / 255, stepSize: 2 / 255, steps: 2, randomStart: true, auxBN: false, weight: 1 });
    expect(c.cutmix).toEqual({ alpha: 1, weight: 1 });
    expect(c.sgdMomentum).toBe(0.9);
    expect(c.weightDecay).toBe(1e-4);
  });

  it('layers merge in order, strings from flags are parsed, nested sections merge with defaults', () => {
    const c = resolveConfig(EMBEDDED_DEFAULT as Record<string, unknown>, { epochs: '7', adversarial: { eps: '0.01' }, cifarStem: 'false' });
    expect(c.epochs).toBe(7);
    expect(c.width).toBe(EMBEDDED_DEFAULT.width);
    expect(c.adversarial).toEqual({ ...DEFAULTS.adversarial, eps: 0.01 });
    expect(c.cifarStem).toBe(false);
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
    expect(() => resolveConfig({ temperature: NaN })).toThrow(/temperature must be a number/);
    expect(() => resolveConfig({ device: 'tpu' })).toThrow(/device must be 'cpu', 'cuda' or 'cuda:N'/);
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
  });
});
