#!/usr/bin/env node
// The `hexa` command: `hexa train` (HEXA_MoCo, MoCo-v2, HEXA_DCluster, DeepCluster-v2
// pre-training) and `hexa info`. Flags map one-to-one onto config keys (--batch-size <->
// batchSize, --adversarial.eps <-> adversarial.eps, --moco.queue-size <-> moco.queueSize);
// --config reads the same keys from JSON or YAML. Bad input prints one line and exits
// non-zero, without a stack trace.
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { info } from '../runtime.js';
import { CONFIG_KEYS, ConfigError, DEFAULTS, hasHardViews, METHODS, RESUME_OVERRIDABLE, resolveConfig, type Method, type TrainConfig } from '../train/config.js';
import { presetOf } from '../train/methods/index.js';
import { TrainerModel } from '../train/model.js';
import { knnTop1, openTrainSet, resumeCheckpoint, resumedConfig, train, type StepLog } from '../train/run.js';
import { pixelFeatures } from '../eval/knn.js';
import { openDataset } from '../data/index.js';
import { trainFlagDocs } from './config-docs.js';
import { PhaseEta } from './eta.js';
import { runEval } from './eval-command.js';
import { runExport } from './export-command.js';
import { flagHelp, UsageError } from './flag-table.js';
import { runPlot, runReport } from './report-commands.js';
import { distBackends } from '../dist/communicator.js';
import { exitWithLauncher, launch, splitLaunchFlags, type LaunchFlags } from '../dist/launch.js';

const USAGE = `usage:
  hexa train [--config file.json|yaml] [--method ${METHODS.join('|')}]
             [--data cifar10|mnist:<dir>|<image folder>] [--arch resnet18|resnet50] [--epochs N]
             [--batch-size N] [--device cpu|cuda|cuda:N] [--out DIR] [--resume [checkpoint.json]]
             [--<any config key> VALUE ...] [--moco.<key> VALUE] [--dcluster.<key> VALUE]   (hexa train --help)
             [--nproc N [--nnodes M --node-rank R --master-addr HOST] [--master-port P]]
  hexa eval <run dir | checkpoint.json | weights.safetensors> [flags]   (hexa eval --help)
  hexa export <run dir | checkpoint.json | weights.safetensors> [--out PREFIX]   (.safetensors + PyTorch .pt)
  hexa plot <run dir> [--out DIR]        (training curves, SVG + PNG)
  hexa report <run dir> [--out FILE]     (one self-contained HTML page)
  hexa info
--nproc starts N data-parallel workers on this node (docs/distributed.md); a worker started by
torchrun or Slurm (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT set) joins its world by itself.
With no arguments, hexa train runs the embedded default: HEXA_MoCo on a CIFAR-10 subset,
sized for a 2-core CPU, ending with kNN top-1 next to two baselines; --method alone runs that
method's preset of the same size. --resume continues a run with its saved config: only
${RESUME_OVERRIDABLE.filter((k) => k !== 'resume').join(', ')} may be given again.
Config keys: ${CONFIG_KEYS.join(', ')}`;

const kebabToCamel = (s: string) => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** --key value / --key=value / --flag (true) / --a.b value -> nested object of raw strings. */
export function parseFlags(argv: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument '${arg}'`);
    let [key, value] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    if (value === undefined) value = i + 1 < argv.length && !argv[i + 1].startsWith('--') ? argv[++i] : 'true';
    const parts = key.split('.').map(kebabToCamel);
    const top = parts[0];
    if (top !== 'config' && !(CONFIG_KEYS as string[]).includes(top)) throw new UsageError(`unknown option --${key} (see hexa --help)`);
    let target = out;
    for (const p of parts.slice(0, -1)) {
      if (target[p] === undefined || typeof target[p] !== 'object') target[p] = {};
      target = target[p] as Record<string, unknown>;
    }
    target[parts[parts.length - 1]] = value === 'off' || value === 'null' ? null : value;
  }
  return out;
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new UsageError(`cannot read config file ${file}`);
  }
  try {
    const v = /\.ya?ml$/i.test(file) ? parseYaml(text) : JSON.parse(text);
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch (e) {
    throw new UsageError(`config file ${file} is not valid ${/\.ya?ml$/i.test(file) ? 'YAML' : 'JSON'}: ${(e as Error).message}`);
  }
}

function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return '--:--';
  const m = Math.floor(s / 60);
  return `${m}:${String(Math.floor(s % 60)).padStart(2, '0')}`;
}

function progressLine(l: StepLog, epochs: number, eta: number): string {
  const terms = (['lossClean', 'lossAdv', 'lossMix'] as const).filter((k) => k in l).map((k) => `${k.slice(4).toLowerCase()} ${Number(l[k]).toFixed(3)}`);
  return (
    `epoch ${l.epoch + 1}/${epochs} step ${l.epochStep + 1}/${l.stepsPerEpoch} loss ${l.loss.toFixed(3)} ` +
    `(${terms.join(' ')}) acc ${(100 * l.accuracy).toFixed(0)}% ` +
    `lr ${l.lr.toExponential(2)} ${l.imagesPerSecond.toFixed(1)} img/s ETA ${formatDuration(eta)}`
  );
}

const sameValue = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** The config of `hexa train` from its flags: a file or the method's preset, then the flags; on --resume, the checkpoint's. */
function configFromFlags(flags: Record<string, unknown>): TrainConfig {
  const { config: configFile, ...rest } = flags;
  try {
    const method = (typeof rest.method === 'string' && (METHODS as string[]).includes(rest.method) ? rest.method : DEFAULTS.method) as Method;
    const base = configFile === undefined ? presetOf(method) : readConfigFile(String(configFile));
    // Where a resumed run's checkpoint is: only --out / --resume (and the base's out) matter;
    // the rest of the base and the flags are not this run's config then.
    const given = resolveConfig({ out: rest.out ?? base.out, resume: rest.resume });
    const resume = resumeCheckpoint(given);
    if (!resume) return resolveConfig(base, rest);
    // A resumed run is the saved run: flags may change only how long, where and how fast it
    // runs; anything else given is refused unless it equals the saved value.
    const saved = resume.info.config;
    const kept: Partial<TrainConfig> = { out: given.out, resume: given.resume };
    for (const k of Object.keys(rest) as Array<keyof TrainConfig>) {
      const value = resolveConfig(saved as unknown as Record<string, unknown>, { [k]: rest[k] })[k];
      if (RESUME_OVERRIDABLE.includes(k)) (kept as Record<string, unknown>)[k] = value;
      else if (!sameValue(value, saved[k])) {
        throw new UsageError(
          `--resume: ${k} is ${JSON.stringify(saved[k])} in ${resume.file}, got ${JSON.stringify(value)}; a resumed run keeps its config ` +
            `(only ${RESUME_OVERRIDABLE.filter((x) => x !== 'resume').join(', ')} may change)`,
        );
      }
    }
    return resumedConfig(saved, kept);
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(e.message);
    throw e;
  }
}

const TRAIN_USAGE = (method: Method) => `usage: hexa train [flags]
Pre-trains a backbone (${METHODS.join(', ')}). With no flags: the embedded default (HEXA_MoCo's
CPU preset); --method alone runs that method's preset; --config reads a file of config keys
instead of the preset. Defaults are the full recipe's; "preset" is ${method}'s CPU preset's value.
Sections take --section.key (--moco.queue-size 8192); --adversarial off switches a hard view off.
flags:
${flagHelp(trainFlagDocs(method))}`;

/** `hexa train --nproc N ...`: this node's workers, each `hexa train ...` in the world. */
async function launchWorkers(flags: LaunchFlags, rest: string[]): Promise<number> {
  const config = configFromFlags(parseFlags(rest)); // a usage error stops here, not in N workers
  const backend = config.device.startsWith('cuda') ? 'nccl' : 'gloo';
  const support = distBackends();
  if (!support[backend]) throw new UsageError(`--nproc is unavailable: ${backend === 'gloo' ? support.glooMissing : support.ncclMissing}`);
  const world = flags.nproc * flags.nnodes;
  process.stderr.write(`hexa: starting ${flags.nproc} worker${flags.nproc > 1 ? 's' : ''} (ranks ${flags.nodeRank * flags.nproc}..${(flags.nodeRank + 1) * flags.nproc - 1} of ${world}, ${backend}, rendezvous ${flags.masterAddr}:${flags.masterPort})\n`);
  const r = await launch({ ...flags, script: process.argv[1], args: ['train', ...rest] });
  if (r.failure) process.stderr.write(`hexa: training failed: ${r.failure}\n`);
  return r.code;
}

async function runTrain(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    const m = argv[argv.indexOf('--method') + 1];
    process.stdout.write(TRAIN_USAGE((METHODS as string[]).includes(m) ? (m as Method) : DEFAULTS.method) + '\n');
    return 0;
  }
  let split: ReturnType<typeof splitLaunchFlags>;
  try {
    split = splitLaunchFlags(argv);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (split.launch) return launchWorkers(split.launch, split.rest);
  exitWithLauncher();
  const lead = (Number(process.env.RANK) || 0) === 0;
  const config = configFromFlags(parseFlags(argv));
  const tty = process.stderr.isTTY;
  let stop = false;
  process.on('SIGINT', () => {
    if (stop) process.exit(130);
    stop = true;
    process.stderr.write('\nhexa: stopping after this step to save a checkpoint (Ctrl-C again to quit now)\n');
  });
  const say = (m: string) => lead && process.stderr.write(`${tty ? '\r\x1b[K' : ''}hexa: ${m}\n`);
  const i = info();
  say(`${config.resume ? 'resuming ' : ''}${config.method} on ${config.data}${config.trainSubset ? ` (first ${config.trainSubset} images)` : ''}, ${config.arch} width ${config.width}, ` +
    `${config.epochs} epochs, batch ${config.batchSize}, ${config.device} (LibTorch ${i.libtorch.version}, ${i.threads} threads) -> ${config.out}`);
  const eta = new PhaseEta(hasHardViews(config.method) ? config.hardViewStartEpoch : Infinity);
  const result = await train(config, {
    onMessage: say,
    stopRequested: () => stop,
    onStep: (l) => {
      const left = eta.update(l);
      if (tty) process.stderr.write(`\r\x1b[K${progressLine(l, config.epochs, left)}`);
      else if ((l.globalStep + 1) % config.logEvery === 0 || l.epochStep + 1 === l.stepsPerEpoch) say(progressLine(l, config.epochs, left));
    },
    onEpoch: (e) => {
      const k = e.setup ? Object.entries(e.setup).filter(([n]) => /^kmeans0\./.test(n)).map(([n, v]) => `${n.slice(8)} ${Number.isInteger(v) ? v : v.toFixed(3)}`) : [];
      say(`epoch ${e.epoch + 1} done: mean loss ${e.meanLoss.toFixed(4)}${e.knnTop1 !== undefined ? `, kNN top-1 ${(100 * e.knnTop1).toFixed(2)}%` : ''}${k.length ? ` (k-means head 0: ${k.join(', ')})` : ''} (${formatDuration(e.elapsedSeconds)})`);
    },
  });
  if (result.stopped) return 130;
  if (!lead) return 0;
  say(`done in ${formatDuration(result.wallSeconds)}; backbone weights: ${result.backbone}; checkpoint: ${result.checkpoint}`);
  if (result.knnTop1 !== undefined) {
    const rows: Array<[string, number]> = [[`${config.method} (trained)`, result.knnTop1]];
    if (config.baselines) {
      const trainSet = await openTrainSet(config);
      const testSet = (await openDataset(config.data, 'test'))!;
      const untrained = await TrainerModel.create(config, { viewSize: config.imageSize || trainSet.height, datasetSize: trainSet.size });
      try {
        rows.push(['same network, untrained', await knnTop1((x) => untrained.embed(x), trainSet, testSet, config)]);
      } finally {
        untrained.dispose();
      }
      rows.push(['raw pixels', await knnTop1(pixelFeatures, trainSet, testSet, config)]);
    }
    const q = config.knnSubset ? `first ${config.knnSubset} test images` : 'test set';
    process.stdout.write(`\nkNN top-1 on ${config.data} (${q}; k=${config.knnK}, cosine, τ=${config.knnTemperature}):\n`);
    for (const [name, acc] of rows) process.stdout.write(`  ${name.padEnd(28)} ${(100 * acc).toFixed(2)}%\n`);
  }
  return 0;
}

/** The commands besides `info`, each parsing its own flags (and --help). */
const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = { train: runTrain, eval: runEval, export: runExport, plot: runPlot, report: runReport };

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
      process.stdout.write(USAGE + '\n');
      return command === undefined ? 2 : 0;
    }
    if (command === 'info') {
      process.stdout.write(JSON.stringify(info(), null, 2) + '\n');
      return 0;
    }
    const run = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
    if (!run) throw new UsageError(`unknown command '${command}' (${['info', ...Object.keys(COMMANDS)].map((c) => `hexa ${c}`).join(' | ')})`);
    return await run(rest);
  } catch (e) {
    process.stderr.write(`${process.stderr.isTTY ? '\n' : ''}hexa: ${(e as Error).message}\n`);
    return e instanceof UsageError ? 2 : 1;
  }
}

const invokedDirectly = process.argv[1] && fs.realpathSync(process.argv[1]) === fs.realpathSync(new URL(import.meta.url).pathname);
if (invokedDirectly) main(process.argv.slice(2)).then((code) => process.exit(code));
