// The training configuration: one object whose keys map one-to-one onto `hexa train`'s
// flags (--batch-size <-> batchSize, --moco.queue-size <-> moco.queueSize) and onto config
// files (JSON or YAML). Shared keys at the top, then one section per method family
// (`moco`, `dcluster`), each defined in its method file. Validation says which key is wrong
// and what it expected; an unknown key is an error, never ignored.
import { cuda } from '../runtime.js';
import { bool, ConfigError, fail, num, oneOf, section, str, type Check } from './config-checks.js';
import { DCLUSTER_CHECKS, DCLUSTER_DEFAULTS, type DClusterConfig } from './methods/dcluster-config.js';
import { MOCO_CHECKS, MOCO_DEFAULTS, type MocoConfig } from './methods/moco-config.js';

export { ConfigError } from './config-checks.js';
export type { DClusterConfig } from './methods/dcluster-config.js';
export type { MocoConfig } from './methods/moco-config.js';

/** MoCo-v2, HEXA_MoCo, DeepCluster-v2, HEXA_DCluster. */
export type Method = 'moco' | 'hexa-moco' | 'dcluster' | 'hexa-dcluster';
export const METHODS: Method[] = ['moco', 'hexa-moco', 'dcluster', 'hexa-dcluster'];
export type Arch = 'resnet18' | 'resnet50';

export interface AdversarialConfig {
  /** 'linf' or 'l2': the PGD ball. */
  norm: 'linf' | 'l2';
  /** Radius ε in pixel units of [0, 1] (CIFAR default 8/255 for L∞). */
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

export interface LarsConfig {
  /** η: the trust coefficient (swav 0.001, solo-learn CIFAR 0.02). */
  trustCoefficient: number;
  /** Cap the adapted rate at the global one (LARC clip mode, solo-learn clip_lr). */
  clip: boolean;
  /** No weight decay and no adaptation for biases and BN parameters (solo-learn). */
  excludeBiasAndNorm: boolean;
}

export interface TrainConfig {
  /** 'moco' (MoCo-v2), 'hexa-moco', 'dcluster' (DeepCluster-v2), 'hexa-dcluster'; hexa-* add the hard views. */
  method: Method;
  /** 'cifar10', 'mnist:<folder with the idx files>', or an image folder. */
  data: string;
  /** Use only the first N training images (0 = all): for short runs. */
  trainSubset: number;
  /** Side of the square training views; 0 = the dataset's own size. */
  imageSize: number;
  /** 'resnet18' or 'resnet50' (torchvision's layouts and names). */
  arch: Arch;
  /** Channels of the first ResNet stage (torchvision: 64). */
  width: number;
  /** 3x3 stem without max-pool, for 32x32 images (default: on when images are <= 64 px). */
  cifarStem: boolean | 'auto';
  /**
   * Run the network's activations in channels_last (NHWC) memory format: faster convolutions on
   * CPU (oneDNN) and GPU (cuDNN); weights and checkpoints are the same either way. Runs saved
   * before this option existed resume with it off, as they were trained.
   */
  channelsLast: boolean;
  /**
   * 'fp32', 'bf16' or 'fp16': the backbone's convolutions in bfloat16 or float16 through
   * autocast (faster on GPUs and, for bf16, on CPUs with AVX512-BF16/AMX; about 3 significant
   * digits; without AVX512-BF16/AMX a CPU emulates bf16, far slower, and train() says so).
   * Weights, BN statistics, losses, PGD updates and the optimizer stay float32. fp16
   * (for GPUs without bf16, e.g. V100, T4) adds a dynamic loss scale as torch.amp.GradScaler:
   * a step that overflows updates nothing and halves the scale (metrics: lossScale, skipped).
   */
  precision: 'fp32' | 'bf16' | 'fp16';
  /** Passes over the training images. */
  epochs: number;
  /** Images per step. */
  batchSize: number;
  /** Base learning rate for a batch of 256 (scaled linearly by batchSize / 256). */
  lr: number;
  /** The learning rate the cosine schedule ends at (swav final_lr, solo-learn min_lr), not scaled. */
  finalLr: number;
  /** Epochs of linear learning-rate warm-up before the cosine schedule. */
  warmupEpochs: number;
  /** 'sgd' or 'lars' (LARS wraps the same SGD, as swav's LARC). */
  optimizer: 'sgd' | 'lars';
  /** SGD momentum. */
  sgdMomentum: number;
  /** L2 weight decay added to the gradient (torch.optim.SGD's). */
  weightDecay: number;
  /** LARS settings (used when optimizer is 'lars'). */
  lars: LarsConfig;
  /** Dimension of the L2-normalised projection (128). */
  outDim: number;
  /** The adversarial view (hexa-* methods; null switches it off). */
  adversarial: AdversarialConfig | null;
  /** The CutMix view (hexa-* methods; null switches it off). */
  cutmix: CutmixConfig | null;
  /**
   * The first epoch (0-based) with hard views: epochs before it are plain steps of the base
   * method (a warm start for the attack; 0 = hard views from the first step).
   */
  hardViewStartEpoch: number;
  /** MoCo-v2 / HEXA_MoCo settings. */
  moco: MocoConfig;
  /** DeepCluster-v2 / HEXA_DCluster settings. */
  dcluster: DClusterConfig;
  /** 'auto' (CUDA when a device is available, else the CPU), 'cpu', 'cuda', 'cuda:N'. Resolved when the config is. */
  device: string;
  /**
   * Capture the MoCo-family training step in a CUDA graph and replay it every step (less
   * launch overhead for small networks and batches). CUDA, one process, MoCo / HEXA_MoCo only;
   * anywhere else (also device 'auto' finding no GPU) the run stops with an error naming this
   * option. The first steps after start, resume and hardViewStartEpoch run eagerly (warm-up),
   * then the step is captured once. Results match the eager step up to float rounding of the
   * lr update (docs/training.md).
   */
  cudaGraph: boolean;
  /** Seed of the initialisation, the data order and every random draw of the run. */
  seed: number;
  /** Output folder: checkpoints, metrics.jsonl, backbone.safetensors. */
  out: string;
  /** Keep a checkpoint every N epochs (plus `last` after every epoch). */
  saveEvery: number;
  /** Resume from <out>/checkpoints/last.json (or this checkpoint JSON). */
  resume: boolean | string;
  /** kNN monitor every N epochs (0 = only at the end; -1 = never); labelled data only. */
  knnEvery: number;
  /** kNN monitor: neighbours that vote. */
  knnK: number;
  /** kNN monitor: votes weighted exp(cosine / τ). */
  knnTemperature: number;
  /** Use only the first N test images for the kNN monitor (0 = all). */
  knnSubset: number;
  /** LibTorch intra-op threads (0 = LibTorch's default). */
  threads: number;
  /** Print a plain progress line every N steps when not on a TTY. */
  logEvery: number;
  /** At the end, also print the kNN top-1 of the same network untrained and of raw pixels. */
  baselines: boolean;
  /** Start pre-training from these torchvision-named backbone weights (safetensors: hexa export's, or a torchvision resnet18/50 state dict); null = torchvision's random initialisation. */
  init: string | null;
  /**
   * Data-parallel runs (docs/distributed.md): seconds a rank waits for its peers (rendezvous,
   * every collective) before the run fails naming the silent ranks.
   */
  distTimeout: number;
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
  channelsLast: true,
  precision: 'fp32',
  epochs: 200,
  batchSize: 256,
  lr: 0.03,
  finalLr: 0,
  warmupEpochs: 0,
  optimizer: 'sgd',
  sgdMomentum: 0.9,
  weightDecay: 1e-4,
  lars: { trustCoefficient: 0.001, clip: false, excludeBiasAndNorm: true },
  outDim: 128,
  adversarial: { norm: 'linf', eps: 8 / 255, stepSize: 2 / 255, steps: 2, randomStart: true, auxBN: false, weight: 1 },
  cutmix: { alpha: 1, weight: 1 },
  hardViewStartEpoch: 0,
  moco: MOCO_DEFAULTS,
  dcluster: DCLUSTER_DEFAULTS,
  device: 'auto',
  cudaGraph: false,
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
  init: null,
  distTimeout: 300,
};

const device: Check = (v, key) => (typeof v === 'string' && /^(auto|cpu|cuda(:\d+)?)$/.test(v) ? v : fail(key, "'auto', 'cpu', 'cuda' or 'cuda:N'", v));

const ADVERSARIAL_CHECKS: Record<keyof AdversarialConfig, Check> = {
  norm: oneOf('linf', 'l2'),
  eps: num(0, 1e6),
  stepSize: num(0, 1e6),
  steps: num(0, 100, true),
  randomStart: bool,
  auxBN: bool,
  weight: num(0, 1e6),
};
const CUTMIX_CHECKS: Record<keyof CutmixConfig, Check> = { alpha: num(1e-6, 1e6), weight: num(0, 1e6) };
const LARS_CHECKS: Record<keyof LarsConfig, Check> = { trustCoefficient: num(1e-9, 1e3), clip: bool, excludeBiasAndNorm: bool };

const CHECKS: Record<keyof TrainConfig, Check> = {
  method: oneOf(...METHODS),
  data: str,
  trainSubset: num(0, 1e9, true),
  imageSize: num(0, 4096, true),
  arch: oneOf('resnet18', 'resnet50'),
  width: num(1, 1024, true),
  cifarStem: (v, key) => (v === 'auto' ? 'auto' : bool(v, key)),
  channelsLast: bool,
  precision: oneOf('fp32', 'bf16', 'fp16'),
  epochs: num(0, 1e6, true),
  batchSize: num(1, 1e6, true),
  lr: num(0, 100),
  finalLr: num(0, 100),
  warmupEpochs: num(0, 1e6, true),
  optimizer: oneOf('sgd', 'lars'),
  sgdMomentum: num(0, 1),
  weightDecay: num(0, 1),
  lars: section(LARS_CHECKS, false),
  outDim: num(1, 65536, true),
  adversarial: section(ADVERSARIAL_CHECKS, true, DEFAULTS.adversarial!),
  cutmix: section(CUTMIX_CHECKS, true, DEFAULTS.cutmix!),
  hardViewStartEpoch: num(0, 1e6, true),
  moco: section(MOCO_CHECKS, false),
  dcluster: section(DCLUSTER_CHECKS, false),
  device,
  cudaGraph: bool,
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
  init: (v, key) => (v === null ? null : str(v, key)),
  distTimeout: num(1, 86400),
};

/** Every known top-level key, for messages and the CLI. */
export const CONFIG_KEYS = Object.keys(CHECKS) as Array<keyof TrainConfig>;

/** Keys a resumed run may change: how long, where and how fast it runs, not what it computes. */
export const RESUME_OVERRIDABLE: ReadonlyArray<keyof TrainConfig> = ['epochs', 'device', 'cudaGraph', 'threads', 'logEvery', 'knnEvery', 'knnSubset', 'saveEvery', 'out', 'resume', 'baselines', 'distTimeout'];

/** Whether the method trains with hard views (HEXA_*). */
export const hasHardViews = (m: Method) => m.startsWith('hexa-');
/** The method family: which native trainer and which config section. */
export const familyOf = (m: Method): 'moco' | 'dcluster' => (m.endsWith('dcluster') ? 'dcluster' : 'moco');

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
      // Sections merge key by key over what earlier layers set.
      const previous = out[k];
      out[k] = check(v, k, previous && typeof previous === 'object' ? previous : undefined);
    }
  }
  const c = out as unknown as TrainConfig;
  // 'auto' becomes the device the run uses, so the banner, metrics and checkpoint name it.
  const asked = c.device;
  if (c.device === 'auto') c.device = cuda.isAvailable() ? 'cuda' : 'cpu';
  checkCudaGraph(c, asked);
  if (!hasHardViews(c.method)) {
    // MoCo-v2 / DeepCluster-v2 are their HEXA variants with both hard views off.
    c.adversarial = null;
    c.cutmix = null;
  } else {
    // Options that would silently turn off what was asked for are refused.
    if (!c.adversarial && !c.cutmix) {
      throw new ConfigError(`method '${c.method}' with both hard views off is '${familyOf(c.method)}': use --method ${familyOf(c.method)}`);
    }
    if (c.epochs > 0 && c.hardViewStartEpoch >= c.epochs) {
      throw new ConfigError(
        `hardViewStartEpoch ${c.hardViewStartEpoch} >= epochs ${c.epochs}: '${c.method}' would never use its hard views ` +
          `(lower --hard-view-start-epoch or use --method ${familyOf(c.method)})`,
      );
    }
  }
  return c;
}

/**
 * cudaGraph's limits, refused by name rather than silently run eagerly: a CUDA device, the
 * MoCo family. Device 'auto' finding no GPU is refused too (decided: a run that asked for a
 * graph should not quietly measure something else; drop cudaGraph for CPU runs). One process
 * only: checkCudaGraphWorld, once the world size is known.
 */
function checkCudaGraph(c: TrainConfig, askedDevice: string): void {
  if (!c.cudaGraph) return;
  if (!c.device.startsWith('cuda')) {
    const why = askedDevice === 'auto' ? `device 'auto' found no CUDA device and resolved to 'cpu'` : `device is '${c.device}'`;
    throw new ConfigError(`cudaGraph needs a CUDA device, but ${why}: set cudaGraph to false (--cuda-graph false) or run on CUDA`);
  }
  if (familyOf(c.method) !== 'moco') {
    throw new ConfigError(`cudaGraph captures the MoCo-family step only (moco, hexa-moco), not '${c.method}': set cudaGraph to false`);
  }
  if (c.precision === 'fp16') {
    throw new ConfigError(`cudaGraph does not run with precision 'fp16' (its loss scale skips steps from the host): use precision 'bf16' or set cudaGraph to false`);
  }
  // Held back (decided 2026-11-30, after its first GPU run, an H200): the capture and replays
  // ran, but the test of the time compared whole 21-step runs, which in its small network part
  // at any last-bit difference (docs/training.md, "Comparing runs"), so it showed nothing either
  // way. Until test/train/cuda-graph.test.ts, which now compares step by step from the same
  // state, passes on a GPU, a run that asks for a graph is refused rather than trained with a
  // step nobody has shown to be right. The trainer's option stays (the CUDA tests and
  // benchmarks/train/step.ts reach it).
  throw new ConfigError(`cudaGraph is held back in this release: its captured step has not yet been shown on a GPU to match the default step (docs/training.md, "CUDA graphs"); set cudaGraph to false`);
}

/** cudaGraph in a data-parallel run: the captured step has no collectives. */
export function checkCudaGraphWorld(c: TrainConfig, worldSize: number): void {
  if (c.cudaGraph && worldSize > 1) {
    throw new ConfigError(`cudaGraph runs in one process only, but this run has ${worldSize} ranks: set cudaGraph to false`);
  }
}

/**
 * A checkpoint's saved config in today's shape: checkpoints of hexa-torch 0.1 (format
 * moco-checkpoint@1) kept the MoCo keys at the top level.
 */
export function migrateConfig(saved: Record<string, unknown>): Record<string, unknown> {
  const c = { ...saved };
  const moved: Record<string, unknown> = {};
  for (const k of ['queueSize', 'temperature', 'keyMomentum'] as const) {
    if (k in c) {
      moved[k] = c[k];
      delete c[k];
    }
  }
  if (Object.keys(moved).length) c.moco = { ...(c.moco as object), ...moved };
  if (c.adversarial && typeof c.adversarial === 'object' && !('norm' in c.adversarial)) c.adversarial = { norm: 'linf', ...c.adversarial };
  // Runs from before channels_last trained NCHW: resuming them keeps their numerics bitwise.
  if (!('channelsLast' in c)) c.channelsLast = false;
  // Runs from before cudaGraph stepped eagerly.
  if (!('cudaGraph' in c)) c.cudaGraph = false;
  return c;
}
