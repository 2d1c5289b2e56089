// `hexa eval <run dir | checkpoint.json | backbone.safetensors> [flags]`: the flags table
// (parsed and shown in --help from the same entries) and the command.
import { EVALUATE_DEFAULTS, EvaluationStopped, evaluate, formatTable, PROTOCOLS, type EvaluateOptions } from '../eval/evaluate.js';
import { LINEAR_PROBE_DEFAULTS } from '../eval/linear.js';
import { setNumThreads } from '../runtime.js';
import { boolean, flagHelp, list, number, oneOf, parseTable, text, type Flag, UsageError } from './flag-table.js';

const D = EVALUATE_DEFAULTS;
const L = LINEAR_PROBE_DEFAULTS;

export const EVAL_FLAGS: Flag[] = [
  { name: 'data', doc: "cifar10, mnist:<dir> or an image folder (class sub-folders)", shown: "the run's data, else cifar10", parse: text },
  { name: 'val', doc: 'an image folder of test images, for an image-folder --data', shown: 'none', parse: text },
  { name: 'val-fraction', doc: 'without a test split or --val: this seeded, class-stratified fraction of the training images is the test set', shown: String(D.valFraction), parse: number(0.001, 0.999) },
  { name: 'image-size', doc: 'side of image-folder images', shown: "the run's imageSize, else 64", parse: number(0, 4096, true) },
  { name: 'train-subset', doc: 'use only the first N training images (0 = all)', shown: "the run's trainSubset, else 0", parse: number(0, 1e9, true) },
  { name: 'test-subset', doc: 'use only the first N test images (0 = all)', shown: String(D.testSubset), parse: number(0, 1e9, true) },
  { name: 'protocols', doc: `comma-separated: ${PROTOCOLS.join(', ')}`, shown: D.protocols.join(','), parse: list(oneOf(...PROTOCOLS)) },
  { name: 'baselines', doc: 'also evaluate the same network untrained and raw pixels (the floors)', shown: String(D.baselines), parse: boolean },
  { name: 'knn-k', doc: 'kNN: neighbours that vote', shown: `the run's knnK, else ${D.knnK}`, parse: number(1, 1e6, true) },
  { name: 'knn-temperature', doc: 'kNN: votes weighted exp(cosine / τ)', shown: `the run's knnTemperature, else ${D.knnTemperature}`, parse: number(1e-6, 1e6) },
  { name: 'linear-lrs', doc: 'linear probe: learning rates tried (on standardised features)', shown: L.lrs.join(','), parse: list(number(0, 1e4)) },
  { name: 'linear-weight-decays', doc: 'linear probe: weight decays tried', shown: L.weightDecays.join(','), parse: list(number(0, 1)) },
  { name: 'linear-epochs', doc: 'linear probe: epochs of the final classifier (SGD momentum 0.9, cosine to 0)', shown: String(L.epochs), parse: number(1, 1e5, true) },
  { name: 'linear-sweep-epochs', doc: 'linear probe: epochs of each sweep run (chosen on a held-out part of the training split)', shown: String(L.sweepEpochs), parse: number(1, 1e5, true) },
  { name: 'linear-held-out', doc: 'linear probe: fraction of the training split held out for the sweep', shown: String(L.heldOut), parse: number(0.001, 0.999) },
  { name: 'fractions', doc: 'fine-tuning: label fractions (class-balanced, seeded subsets)', shown: D.fractions.join(','), parse: list(number(1e-6, 1)) },
  { name: 'fine-tune-steps', doc: 'fine-tuning: SGD steps (lr x0.2 at 60% and 80%)', shown: String(D.fineTuneSteps), parse: number(1, 1e7, true) },
  { name: 'fine-tune-batch-size', doc: 'fine-tuning: batch size', shown: String(D.fineTuneBatchSize), parse: number(1, 1e5, true) },
  { name: 'mean', doc: 'input normalisation mean, 3 numbers', shown: 'CIFAR-10 statistics for hexa-torch weights, ImageNet for other files', parse: list(number(-1e3, 1e3), 3) },
  { name: 'std', doc: 'input normalisation std, 3 numbers', shown: 'as --mean', parse: list(number(1e-6, 1e3), 3) },
  { name: 'out', doc: 'folder for eval.json, eval.txt and subsets/', shown: '<run dir>/eval or <weights>-eval', parse: text },
  { name: 'seed', doc: 'seed of the subsets, splits and classifiers', shown: String(D.seed), parse: number(0, 2 ** 32 - 1, true) },
  { name: 'threads', doc: "LibTorch intra-op threads (0 = LibTorch's default)", shown: '0', parse: number(0, 1024, true) },
];

export const EVAL_USAGE = `usage: hexa eval <run dir | checkpoint.json | weights.safetensors> [flags]
Judges a backbone (any torchvision-named ResNet-18/50 in safetensors, or a hexa-torch run) with
kNN, a linear probe on frozen features and few-label fine-tuning, each next to the same
network untrained and raw pixels. Writes eval.json, eval.txt and the label subsets.
flags:
${flagHelp(EVAL_FLAGS)}`;

export async function runEval(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(EVAL_USAGE + '\n');
    return 0;
  }
  const { positional, values } = parseTable(argv, EVAL_FLAGS, 'eval');
  if (positional.length !== 1) throw new UsageError(`hexa eval takes one run directory or weights file, got ${positional.length} (see hexa eval --help)`);
  const v = values as Record<string, never>;
  if ((v.mean === undefined) !== (v.std === undefined)) throw new UsageError('--mean and --std go together');
  if (v.threads) setNumThreads(v.threads);
  const linear: Record<string, unknown> = { lrs: v.linearLrs, weightDecays: v.linearWeightDecays, epochs: v.linearEpochs, sweepEpochs: v.linearSweepEpochs, heldOut: v.linearHeldOut };
  for (const k of Object.keys(linear)) if (linear[k] === undefined) delete linear[k];
  let stop = false;
  const onSigint = () => {
    if (stop) process.exit(130);
    stop = true;
    process.stderr.write('\nhexa: stopping at the next safe point; no result file is written (Ctrl-C again to quit now)\n');
  };
  process.on('SIGINT', onSigint);
  const options: EvaluateOptions = {
    data: v.data,
    val: v.val,
    valFraction: v.valFraction,
    imageSize: v.imageSize,
    trainSubset: v.trainSubset,
    testSubset: v.testSubset,
    protocols: v.protocols,
    baselines: v.baselines,
    knnK: v.knnK,
    knnTemperature: v.knnTemperature,
    linear,
    fractions: v.fractions,
    fineTuneSteps: v.fineTuneSteps,
    fineTuneBatchSize: v.fineTuneBatchSize,
    normalization: v.mean ? { mean: v.mean, std: v.std } : undefined,
    out: v.out,
    seed: v.seed,
    onMessage: (m) => process.stderr.write(`hexa: ${m}\n`),
    shouldStop: () => stop,
  };
  for (const k of Object.keys(options) as Array<keyof EvaluateOptions>) if (options[k] === undefined) delete options[k];
  try {
    const result = await evaluate(positional[0], options);
    process.stdout.write('\n' + formatTable(result) + `results: ${result.files.json}, ${result.files.table}\n`);
    return 0;
  } catch (e) {
    if (e instanceof EvaluationStopped) {
      process.stderr.write(`hexa: ${e.message}\n`);
      return 130;
    }
    throw e;
  } finally {
    process.off('SIGINT', onSigint);
  }
}
