// `hexa eval` / evaluate(): judge a backbone the way MoCo, swav and solo-learn users do, each
// protocol next to its floors computed by the same code (the same network untrained, raw
// pixels):
//   - kNN (the training monitor's protocol: k, cosine, exp(sim / τ) votes);
//   - linear probe on frozen pooled features (linear.ts);
//   - few-label fine-tuning on class-balanced seeded 1% / 10% subsets (finetune.ts).
// Results: <out>/eval.json and <out>/eval.txt (a table), and the subsets in <out>/subsets/,
// each written atomically once its numbers exist: an interrupted evaluation leaves no
// half-written file.
import path from 'node:path';
import fs from 'node:fs';
import { openDataset, type ImageDataset } from '../data/index.js';
import { writeAtomic } from '../checkpoint/safetensors.js';
import { cat, scope, tensor, Tensor } from '../tensor.js';
import { backboneFeatures, loadBackbone, untrainedBackbone, type Backbone, type BackboneSpec } from './backbone.js';
import { fineTune, swavSemisupLrs } from './finetune.js';
import { knnAccuracy, pixelFeatures } from './knn.js';
import { classifierAccuracy, LINEAR_PROBE_DEFAULTS, linearProbe, type Accuracy, type LinearProbeOptions, type LinearProbeResult } from './linear.js';
import { classBalancedSubset, stratifiedSplit } from './subsets.js';

export type Protocol = 'knn' | 'linear' | 'finetune';
export const PROTOCOLS: Protocol[] = ['knn', 'linear', 'finetune'];

export interface EvaluateOptions {
  /** 'cifar10', 'mnist:<dir>' or an image folder; default: the run's data, else cifar10. */
  data?: string;
  /** An image folder of test images (class sub-folders) for an image-folder `data`. */
  val?: string;
  /** Without a test split or `val`: this class-stratified, seeded fraction of the training images is the test set. */
  valFraction?: number;
  /** Side of image-folder images; default: the run's imageSize, else 64. */
  imageSize?: number;
  /** Only the first N training images (0 = all); default: the run's trainSubset. */
  trainSubset?: number;
  /** Only the first N test images (0 = all). */
  testSubset?: number;
  protocols?: Protocol[];
  /** Also evaluate the untrained network and raw pixels (linear probe and kNN). */
  baselines?: boolean;
  /** kNN: neighbours that vote; default: the run's knnK, else 200. */
  knnK?: number;
  /** kNN: votes weighted exp(cosine / τ); default: the run's knnTemperature, else 0.1. */
  knnTemperature?: number;
  linear?: LinearProbeOptions;
  /** Label fractions for fine-tuning. */
  fractions?: number[];
  fineTuneSteps?: number;
  fineTuneBatchSize?: number;
  /** Input normalisation (default: from the weights' origin, see loadBackbone). */
  normalization?: { mean: number[]; std: number[] };
  /** Where eval.json, eval.txt and subsets/ go; default <run dir>/eval or <file>-eval/. */
  out?: string;
  seed?: number;
  onMessage?(message: string): void;
  /** Checked between phases and fine-tuning chunks: true stops without writing results. */
  shouldStop?(): boolean;
}

/** Every key of EvaluateOptions (the type makes this list complete): others are refused, not ignored. */
const EVALUATE_OPTION_KEYS: Record<keyof EvaluateOptions, true> = {
  data: true, val: true, valFraction: true, imageSize: true, trainSubset: true, testSubset: true, protocols: true,
  baselines: true, knnK: true, knnTemperature: true, linear: true, fractions: true, fineTuneSteps: true,
  fineTuneBatchSize: true, normalization: true, out: true, seed: true, onMessage: true, shouldStop: true,
};

/** A misspelt or CLI-shaped key ('linearLrs', 'mean') would silently keep its default. */
function checkOptionKeys(options: EvaluateOptions): void {
  const unknown = (keys: string[], known: object, where: string) => {
    const bad = keys.find((k) => !Object.hasOwn(known, k));
    if (bad !== undefined) throw new TypeError(`evaluate: unknown option ${where}${bad} (known: ${Object.keys(known).join(', ')})`);
  };
  unknown(Object.keys(options), EVALUATE_OPTION_KEYS, '');
  if (options.linear) unknown(Object.keys(options.linear), LINEAR_PROBE_DEFAULTS, 'linear.');
  if (options.normalization) unknown(Object.keys(options.normalization), { mean: true, std: true }, 'normalization.');
}

export const EVALUATE_DEFAULTS = {
  valFraction: 0.2,
  testSubset: 0,
  protocols: PROTOCOLS,
  baselines: true,
  knnK: 200,
  knnTemperature: 0.1,
  fractions: [0.01, 0.1],
  fineTuneSteps: 100,
  fineTuneBatchSize: 64,
  seed: 0,
};

export interface FineTuneResult extends Accuracy {
  fraction: number;
  images: number;
  steps: number;
  lrTrunk: number;
  lrHead: number;
  /** The subset file (indices into the training images). */
  subset: string;
}

export interface NetworkResults {
  knn?: Accuracy;
  linear?: LinearProbeResult;
  finetune?: FineTuneResult[];
}

export interface EvalResult {
  format: 'hexa-torch/eval@1';
  source: string;
  backbone: BackboneSpec;
  data: string;
  classes: string[];
  trainImages: number;
  testImages: number;
  /** 'trained' (the weights given), 'untrained' and 'raw pixels' (floors). */
  results: Record<string, NetworkResults>;
  /** Wall seconds per phase. */
  timings: Record<string, number>;
  settings: Record<string, unknown>;
  finishedAt: string;
  /** The files written. */
  files: { json: string; table: string };
}

export class EvaluationStopped extends Error {
  constructor() {
    super('evaluation stopped; no results were written');
  }
}

interface Split {
  images: Tensor;
  labels: Tensor;
  labelList: number[];
}

async function loadSplit(ds: ImageDataset, indices: ArrayLike<number>): Promise<Split> {
  const parts: Tensor[] = [];
  const labelList: number[] = [];
  try {
    for (let s = 0; s < indices.length; s += 2000) {
      const idx = Array.from({ length: Math.min(2000, indices.length - s) }, (_, i) => indices[s + i]);
      const b = await ds.batch(idx);
      b.labels.forEach((l) => labelList.push(l));
      parts.push(tensor(b.images, b.shape));
    }
    const images = parts.length === 1 ? parts[0] : await cat(parts, 0);
    if (parts.length > 1) parts.forEach((t) => t.dispose());
    parts.length = 0;
    return { images, labels: tensor(BigInt64Array.from(labelList, (l) => BigInt(l)), [labelList.length]), labelList };
  } finally {
    parts.forEach((t) => t.dispose());
  }
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const firstN = (size: number, n: number) => range(n > 0 ? Math.min(n, size) : size);

/** The train and test images of the evaluation. */
async function openSplits(data: string, o: EvaluateOptions & typeof EVALUATE_DEFAULTS, imageSize: number, trainSubset: number) {
  const trainSet = await openDataset(data, 'train', imageSize, trainSubset);
  if (!trainSet?.classes) throw new Error(`evaluate: ${data} has no labelled training images`);
  let testSet = o.val ? await openDataset(o.val, 'train', imageSize) : await openDataset(data, 'test', imageSize);
  if (o.val && testSet && JSON.stringify(testSet.classes) !== JSON.stringify(trainSet.classes)) {
    throw new Error(`evaluate: the classes of --val ${o.val} (${testSet.classes}) are not those of ${data} (${trainSet.classes})`);
  }
  let trainIdx = firstN(trainSet.size, trainSubset);
  let testIdx: number[];
  if (testSet) {
    testIdx = firstN(testSet.size, o.testSubset);
  } else {
    // No test split: a seeded class-stratified part of the training images is the test set.
    const all = await trainSet.batch(trainIdx).then((b) => Array.from(b.labels));
    const { kept, held } = stratifiedSplit(all, o.valFraction, o.seed);
    testSet = trainSet;
    testIdx = Array.from(held, (i) => trainIdx[i]);
    trainIdx = Array.from(kept, (i) => trainIdx[i]);
    if (o.testSubset) testIdx = testIdx.slice(0, o.testSubset);
  }
  return { trainSet, testSet, trainIdx, testIdx, classes: trainSet.classes };
}

/** Table rows of a result: one line per protocol, the trained network and its floors side by side. */
export function formatTable(r: EvalResult): string {
  const nets = Object.keys(r.results);
  const pct = (x?: number) => (x === undefined ? '' : `${(100 * x).toFixed(2)}%`);
  const rows: string[][] = [['protocol', ...nets]];
  const cell = (a?: Accuracy) => (a ? `${pct(a.top1)}${a.top5 !== undefined ? ` (top-5 ${pct(a.top5)})` : ''}` : '-');
  if (nets.some((n) => r.results[n].knn)) rows.push([`kNN top-1 (k=${r.settings.knnK}, τ=${r.settings.knnTemperature})`, ...nets.map((n) => cell(r.results[n].knn))]);
  if (nets.some((n) => r.results[n].linear)) rows.push(['linear probe top-1', ...nets.map((n) => cell(r.results[n].linear))]);
  const fractions = r.results[nets[0]]?.finetune?.map((f) => f.fraction) ?? [];
  for (const [i, f] of fractions.entries()) {
    rows.push([`fine-tune ${100 * f}% labels top-1`, ...nets.map((n) => cell(r.results[n].finetune?.[i]))]);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  const lines = rows.map((row) => row.map((v, c) => v.padEnd(widths[c])).join('  ').trimEnd());
  lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  const t = Object.entries(r.timings).map(([k, v]) => `${k} ${v.toFixed(1)} s`).join(', ');
  return (
    `${r.source} (${r.backbone.arch}, width ${r.backbone.width}${r.backbone.cifarStem ? ', CIFAR stem' : ''}) on ${r.data}: ` +
    `${r.trainImages} training images, ${r.testImages} test images, ${r.classes.length} classes\n${lines.join('\n')}\ntime: ${t}\n`
  );
}

/** The default results folder: <run dir>/eval, or <weights file without extension>-eval. */
export function defaultEvalDir(source: string): string {
  if (fs.existsSync(source) && fs.statSync(source).isDirectory()) return path.join(source, 'eval');
  if (path.basename(path.dirname(source)) === 'checkpoints') return path.join(path.dirname(path.dirname(source)), 'eval');
  return source.replace(/\.[^./]+$/, '') + '-eval';
}

/**
 * Evaluates the backbone of `source` (a run directory, a checkpoint JSON or torchvision-named
 * safetensors) with kNN, the linear probe and few-label fine-tuning, next to the untrained
 * network and raw pixels. Writes <out>/eval.json, <out>/eval.txt and <out>/subsets/.
 */
export async function evaluate(source: string, options: EvaluateOptions = {}): Promise<EvalResult> {
  checkOptionKeys(options);
  const o = { ...EVALUATE_DEFAULTS, ...options, knnK: options.knnK ?? 0, knnTemperature: options.knnTemperature ?? 0 };
  for (const p of o.protocols) if (!PROTOCOLS.includes(p)) throw new RangeError(`evaluate: unknown protocol '${p}' (known: ${PROTOCOLS.join(', ')})`);
  for (const f of o.fractions) if (!(f > 0 && f <= 1)) throw new RangeError(`evaluate: fractions must be in (0, 1], got ${f}`);
  const say = (m: string) => o.onMessage?.(m);
  const checkStop = () => {
    if (o.shouldStop?.()) throw new EvaluationStopped();
  };
  const timings: Record<string, number> = {};
  const timed = async <T>(phase: string, fn: () => Promise<T>): Promise<T> => {
    checkStop();
    const t0 = performance.now();
    say(`${phase} ...`);
    const r = await fn();
    timings[phase] = (timings[phase] ?? 0) + (performance.now() - t0) / 1000;
    say(`${phase}: done in ${timings[phase].toFixed(1)} s`);
    return r;
  };
  const out = o.out ?? defaultEvalDir(source);
  const backbones: Array<[string, Backbone]> = [];
  try {
    const trained = await timed('load weights', () => loadBackbone(source, o.normalization));
    backbones.push(['trained', trained]);
    const config = trained.config;
    const data = o.data ?? config?.data ?? 'cifar10';
    const imageSize = o.imageSize ?? config?.imageSize ?? 0;
    const trainSubset = o.trainSubset ?? config?.trainSubset ?? 0;
    // The monitor's protocol: the run's k and τ unless given.
    o.knnK = options.knnK ?? config?.knnK ?? EVALUATE_DEFAULTS.knnK;
    o.knnTemperature = options.knnTemperature ?? config?.knnTemperature ?? EVALUATE_DEFAULTS.knnTemperature;
    if (o.baselines) backbones.push(['untrained', await untrainedBackbone(trained.spec, o.seed)]);
    const splits = await timed('load data', () => openSplits(data, o, imageSize, trainSubset));
    const classes = splits.classes.length;
    return await scope(async () => {
      const train = await loadSplit(splits.trainSet, splits.trainIdx);
      const test = await loadSplit(splits.testSet, splits.testIdx);
      say(`${source}: ${trained.spec.arch} width ${trained.spec.width}; ${data}: ${train.labelList.length} training, ${test.labelList.length} test images, ${classes} classes`);
      const results: Record<string, NetworkResults> = Object.fromEntries(backbones.map(([n]) => [n, {}]));
      const wantFeatures = o.protocols.includes('knn') || o.protocols.includes('linear');
      if (wantFeatures) {
        const nets: Array<[string, (x: Tensor) => Promise<Tensor>]> = backbones.map(([n, b]) => [n, (x: Tensor) => backboneFeatures(b, x)]);
        if (o.baselines) {
          nets.push(['raw pixels', pixelFeatures]);
          results['raw pixels'] = {};
        }
        for (const [name, embed] of nets) {
          await scope(async () => {
            const f = await timed(`features (${name})`, async () => ({
              train: { features: await embed(train.images), labels: train.labels },
              test: { features: await embed(test.images), labels: test.labels },
            }));
            if (o.protocols.includes('knn')) {
              const top1 = await timed(`kNN (${name})`, () =>
                knnAccuracy(f.train.features, f.train.labels, f.test.features, f.test.labels, classes, { k: o.knnK, temperature: o.knnTemperature }),
              );
              results[name].knn = { top1 };
              say(`kNN top-1 (${name}): ${(100 * top1).toFixed(2)}%`);
            }
            if (o.protocols.includes('linear')) {
              const r = await timed(`linear probe (${name})`, () =>
                linearProbe(f.train, f.test, classes, { ...o.linear, seed: o.linear?.seed ?? o.seed }, (m) => say(`linear probe (${name}): ${m}`)),
              );
              results[name].linear = r;
              say(`linear probe top-1 (${name}): ${(100 * r.top1).toFixed(2)}% (lr ${r.lr}, wd ${r.weightDecay} chosen on held-out training images)`);
            }
          });
        }
      }
      const subsetFiles: Array<[string, string]> = [];
      if (o.protocols.includes('finetune')) {
        for (const fraction of o.fractions) {
          const idx = classBalancedSubset(train.labelList, fraction, o.seed);
          const subsetFile = path.join(out, 'subsets', `${+(100 * fraction).toFixed(4)}pct-seed${o.seed}.json`);
          // Indices into the evaluation's training images, and the dataset indices they are.
          subsetFiles.push([
            subsetFile,
            JSON.stringify({ data, fraction, seed: o.seed, trainImages: train.labelList.length, datasetIndices: Array.from(idx, (i) => splits.trainIdx[i]), labels: Array.from(idx, (i) => train.labelList[i]) }) + '\n',
          ]);
          const lrs = swavSemisupLrs(fraction);
          for (const [name, b] of backbones) {
            await scope(async () => {
              const phase = `fine-tune ${100 * fraction}% (${name})`;
              const acc = await timed(phase, async () => {
                const sub = await train.images.index(0, tensor(BigInt64Array.from(idx, (i) => BigInt(i)), [idx.length]));
                const subLabels = await train.labels.index(0, tensor(BigInt64Array.from(idx, (i) => BigInt(i)), [idx.length]));
                const tuned = await fineTune(b, sub, subLabels, { classes, steps: o.fineTuneSteps, batchSize: o.fineTuneBatchSize, ...lrs, seed: o.seed }, {
                  shouldStop: () => !!o.shouldStop?.(),
                  onProgress: (s, n, loss) => say(`${phase}: step ${s}/${n} loss ${loss.toFixed(3)}`),
                });
                if (!tuned) throw new EvaluationStopped();
                const { 'fc.weight': weight, 'fc.bias': bias, ...state } = tuned.state;
                const net = { ...b, state };
                try {
                  const feats = await backboneFeatures(net, test.images);
                  return await classifierAccuracy(feats, test.labels, { weight, bias });
                } finally {
                  Object.values(tuned.state).forEach((t) => t.dispose());
                }
              });
              (results[name].finetune ??= []).push({ ...acc, fraction, images: idx.length, steps: o.fineTuneSteps, ...lrs, subset: subsetFile });
              say(`fine-tune ${100 * fraction}% labels top-1 (${name}): ${(100 * acc.top1).toFixed(2)}%`);
            });
          }
        }
      }
      checkStop();
      const files = { json: path.join(out, 'eval.json'), table: path.join(out, 'eval.txt') };
      const result: EvalResult = {
        format: 'hexa-torch/eval@1',
        source,
        backbone: trained.spec,
        data,
        classes: splits.classes,
        trainImages: train.labelList.length,
        testImages: test.labelList.length,
        results,
        timings,
        settings: {
          protocols: o.protocols,
          knnK: o.knnK,
          knnTemperature: o.knnTemperature,
          linear: { ...LINEAR_PROBE_DEFAULTS, ...o.linear, seed: o.linear?.seed ?? o.seed },
          fractions: o.fractions,
          fineTuneSteps: o.fineTuneSteps,
          fineTuneBatchSize: o.fineTuneBatchSize,
          trainSubset,
          testSubset: o.testSubset,
          seed: o.seed,
        },
        finishedAt: new Date().toISOString(),
        files,
      };
      for (const [file, text] of subsetFiles) await writeAtomic(file, [text]);
      await writeAtomic(files.json, [JSON.stringify(result, null, 2) + '\n']);
      await writeAtomic(files.table, [formatTable(result)]);
      return result;
    });
  } finally {
    backbones.forEach(([, b]) => b.dispose());
  }
}
