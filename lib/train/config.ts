// The training configuration: one object whose keys map one-to-one onto `hexa train`'s
// flags (--batch-size <-> batchSize) and onto config files (JSON or YAML). Validation says
// which key is wrong and what it expected; an unknown key is an error, never ignored.

export type Method = 'moco' | 'hexa-moco';
export type Arch = 'resnet18' | 'resnet50';

export interface AdversarialConfig {
  /** L∞ radius ε in pixel units of [0, 1] (CIFAR default 8/255). */
  eps: number;
  /** PGD step α (2/255). */
  stepSize: number;
  /** PGD steps T (2). */
  steps: number;
  /** Uniform random start inside the ball. */
  randomStart: boolean;
  /** A separate BN for adversarial forwards (AdvProp). */
  auxBN: boolean;
  /** Loss weight w_adv. */
  weight: number;
}

export interface CutmixConfig {
  /** λ ~ Beta(alpha, alpha). */
  alpha: number;
  /** Loss weight w_mix. */
  weight: number;
}

export interface TrainConfig {
  /** 'moco' (MoCo-v2) or 'hexa-moco' (adversarial + CutMix hard views). */
  method: Method;
  /** 'cifar10', 'mnist:<folder with the idx files>', or an image folder. */
  data: string;
  /** Use only the first N training images (0 = all): for short runs. */
  trainSubset: number;
  /** Side of the square training views; 0 = the dataset's own size. */
  imageSize: number;
  arch: Arch;
  /** Channels of the first ResNet stage (torchvision: 64). */
  width: number;
  /** 3x3 stem without max-pool, for 32x32 images (default: on when images are <= 64 px). */
  cifarStem: boolean | 'auto';
  epochs: number;
  batchSize: number;
  /** Base learning rate for a batch of 256 (scaled linearly by batchSize / 256). */
  lr: number;
  warmupEpochs: number;
  sgdMomentum: number;
  weightDecay: number;
  keyMomentum: number;
  queueSize: number;
  temperature: number;
  outDim: number;
  /** The adversarial view (hexa-moco only; null switches it off). */
  adversarial: AdversarialConfig | null;
  /** The CutMix view (hexa-moco only; null switches it off). */
  cutmix: CutmixConfig | null;
  /**
   * The first epoch (0-based) with hard views: epochs before it are plain MoCo-v2 steps (a
   * warm start for the attack; 0 = hard views from the first step).
   */
  hardViewStartEpoch: number;
  /** 'cpu', 'cuda', 'cuda:N'. */
  device: string;
  seed: number;
  /** Output folder: checkpoints, metrics.jsonl, backbone.safetensors. */
  out: string;
  /** Keep a checkpoint every N epochs (plus `last` after every epoch). */
  saveEvery: number;
  /** Resume from <out>/checkpoints/last.json (or this checkpoint JSON). */
  resume: boolean | string;
  /** kNN monitor every N epochs (0 = only at the end; -1 = never); labelled data only. */
  knnEvery: number;
  knnK: number;
  knnTemperature: number;
  /** Use only the first N test images for the kNN monitor (0 = all). */
  knnSubset: number;
  /** LibTorch intra-op threads (0 = LibTorch's default). */
  threads: number;
  /** Print a plain progress line every N steps when not on a TTY. */
  logEvery: number;
  /** At the end, also print the kNN top-1 of the same network untrained and of raw pixels. */
  baselines: boolean;
}

/** The defaults: HEXA_MoCo on CIFAR-10 as the method doc gives them for CIFAR. */
export const DEFAULTS: TrainConfig = {
  method: 'hexa-moco',
  data: 'cifar10',
  trainSubset: 0,
  imageSize: 0,
  arch: 'resnet18',
  width: 64,
  cifarStem: 'auto',
  epochs: 200,
  batchSize: 256,
  lr: 0.03,
  warmupEpochs: 0,
  sgdMomentum: 0.9,
  weightDecay: 1e-4,
  keyMomentum: 0.99,
  queueSize: 4096,
  temperature: 0.2,
  outDim: 128,
  adversarial: { eps: 8 / 255, stepSize: 2 / 255, steps: 2, randomStart: true, auxBN: false, weight: 1 },
  cutmix: { alpha: 1, weight: 1 },
  hardViewStartEpoch: 0,
  device: 'cpu',
  seed: 0,
  out: 'runs/hexa',
  saveEvery: 10,
  resume: false,
  knnEvery: 1,
  knnK: 200,
  knnTemperature: 0.1,
  knnSubset: 0,
  threads: 0,
  logEvery: 20,
  baselines: false,
};

/**
 * `hexa train` with no arguments: HEXA_MoCo on CIFAR-10 sized to finish within 10 minutes on
 * a 2-core CPU (measured: see README), ending with the kNN comparison.
 */
export const EMBEDDED_DEFAULT: Partial<TrainConfig> = {
  method: 'hexa-moco',
  data: 'cifar10',
  trainSubset: 10000,
  arch: 'resnet18',
  width: 16,
  epochs: 3,
  // A short budget learns faster with more, smaller steps, a sharper temperature and more
  // weight decay than the 200-epoch recipe (measured on MoCo-v2, 2 epochs of 10k images:
  // kNN +6.4 points over the untrained network with these, +1.2 with the recipe's values).
  batchSize: 64,
  lr: 0.12,
  temperature: 0.1,
  weightDecay: 5e-4,
  // Milder hard views than the 200-epoch defaults (ε 8/255, T 2, weights 1): at this budget
  // those left the trained network below the untrained one (24.3% vs 27.9% kNN); one PGD
  // step also makes each iteration ~20% cheaper.
  adversarial: { eps: 4 / 255, stepSize: 2 / 255, steps: 1, randomStart: true, auxBN: false, weight: 0.5 },
  cutmix: { alpha: 1, weight: 0.5 },
  // The first epoch is plain MoCo-v2: hard views from the first step slow early learning
  // (2 epochs with them throughout: +4.2 points over the untrained network; this warm start
  // then 2 hard-view epochs: +8.3, see docs/training.md).
  hardViewStartEpoch: 1,
  knnEvery: 0,
  knnSubset: 0,
  out: 'runs/hexa-default',
  baselines: true,
};

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Check = (v: unknown, key: string) => unknown;
const fail = (key: string, expected: string, got: unknown): never => {
  throw new ConfigError(`${key} must be ${expected}, got ${typeof got === 'string' ? `'${got}'` : JSON.stringify(got)}`);
};
const num = (lo: number, hi: number, int = false): Check => (v, key) => {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < lo || n > hi || (int && !Number.isInteger(n)))
    fail(key, `${int ? 'an integer' : 'a number'} in [${lo}, ${hi}]`, v);
  return n;
};
const bool: Check = (v, key) => (v === true || v === 'true' ? true : v === false || v === 'false' ? false : fail(key, 'true or false', v));
const oneOf = (...xs: string[]): Check => (v, key) => (typeof v === 'string' && xs.includes(v) ? v : fail(key, `one of ${xs.map((x) => `'${x}'`).join(', ')}`, v));
const str: Check = (v, key) => (typeof v === 'string' && v.length > 0 ? v : fail(key, 'a non-empty string', v));
const device: Check = (v, key) => (typeof v === 'string' && /^(cpu|cuda(:\d+)?)$/.test(v) ? v : fail(key, "'cpu', 'cuda' or 'cuda:N'", v));

const ADVERSARIAL_CHECKS: Record<keyof AdversarialConfig, Check> = {
  eps: num(0, 1),
  stepSize: num(0, 1),
  steps: num(0, 100, true),
  randomStart: bool,
  auxBN: bool,
  weight: num(0, 1e6),
};
const CUTMIX_CHECKS: Record<keyof CutmixConfig, Check> = { alpha: num(1e-6, 1e6), weight: num(0, 1e6) };

function section<T extends object>(checks: Record<keyof T, Check>, defaults: T | null, fallback: T): Check {
  return (v, key) => {
    if (v === null || v === false || v === 'off') return null;
    if (typeof v !== 'object' || Array.isArray(v)) return fail(key, 'an object or null', v);
    const out = { ...(defaults ?? fallback) } as Record<string, unknown>;
    for (const [k, x] of Object.entries(v as object)) {
      const check = (checks as Record<string, Check>)[k];
      if (!check) throw new ConfigError(`unknown key ${key}.${k} (known: ${Object.keys(checks).join(', ')})`);
      out[k] = check(x, `${key}.${k}`);
    }
    return out;
  };
}

const CHECKS: Record<keyof TrainConfig, Check> = {
  method: oneOf('moco', 'hexa-moco'),
  data: str,
  trainSubset: num(0, 1e9, true),
  imageSize: num(0, 4096, true),
  arch: oneOf('resnet18', 'resnet50'),
  width: num(1, 1024, true),
  cifarStem: (v, key) => (v === 'auto' ? 'auto' : bool(v, key)),
  epochs: num(0, 1e6, true),
  batchSize: num(1, 1e6, true),
  lr: num(0, 100),
  warmupEpochs: num(0, 1e6, true),
  sgdMomentum: num(0, 1),
  weightDecay: num(0, 1),
  keyMomentum: num(0, 1),
  queueSize: num(1, 1 << 24, true),
  temperature: num(1e-6, 1e6),
  outDim: num(1, 65536, true),
  adversarial: section(ADVERSARIAL_CHECKS, null, DEFAULTS.adversarial!),
  cutmix: section(CUTMIX_CHECKS, null, DEFAULTS.cutmix!),
  hardViewStartEpoch: num(0, 1e6, true),
  device,
  seed: num(0, 2 ** 53 - 1, true),
  out: str,
  saveEvery: num(1, 1e6, true),
  resume: (v, key) => (typeof v === 'string' && v !== 'true' && v !== 'false' ? v : bool(v, key)),
  knnEvery: num(-1, 1e6, true),
  knnK: num(1, 1e6, true),
  knnTemperature: num(1e-6, 1e6),
  knnSubset: num(0, 1e9, true),
  threads: num(0, 1024, true),
  logEvery: num(1, 1e9, true),
  baselines: bool,
};

/** Every known key, for messages and the CLI. */
export const CONFIG_KEYS = Object.keys(CHECKS) as Array<keyof TrainConfig>;

/** Merges layers of partial configs (later wins) over the defaults and validates the result. */
export function resolveConfig(...layers: Array<Record<string, unknown> | undefined>): TrainConfig {
  const out = structuredClone(DEFAULTS) as unknown as Record<string, unknown>;
  for (const layer of layers) {
    if (!layer) continue;
    if (typeof layer !== 'object' || Array.isArray(layer)) throw new ConfigError(`a config must be an object, got ${JSON.stringify(layer)}`);
    for (const [k, v] of Object.entries(layer)) {
      const check = (CHECKS as Record<string, Check>)[k];
      if (!check) throw new ConfigError(`unknown config key '${k}' (known: ${CONFIG_KEYS.join(', ')})`);
      if (v === undefined) continue;
      out[k] = check(v, k);
    }
  }
  const c = out as unknown as TrainConfig;
  if (c.method === 'moco') {
    // MoCo-v2 is HEXA_MoCo with both hard views off.
    c.adversarial = null;
    c.cutmix = null;
  }
  return c;
}
