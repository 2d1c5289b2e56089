// Crash runs: SIGKILL a tiny training run (the CLI, as a user runs it) at random moments of
// training and saving, many times, resuming each time with `hexa train --out DIR --resume`
// and no other flag. Checks, at every kill:
//   - the checkpoint there is loadable: every checkpoint JSON parses and its safetensors file
//     loads with the tensor names of the reference run's state;
//   - a save's temp files (`*.tmp-<pid>-*`) left by a killed process are gone once a later
//     run has completed a save (seen as a logged step after an epoch end of that run);
// and at the end, after a last resume runs to completion: no temp file remains, and every
// tensor of the final checkpoint and the backbone file have the sha256 of an uninterrupted
// run's. Not a unit test (minutes); results go to docs/hardening.md.
//
//   npx tsx scripts/crash.mts [--kills 100] [--seed 1] [--method hexa-moco] [--epochs 120]
// Prints one JSON summary line; exit 1 when a check fails. Needs dist/ (npx tsc) and CIFAR-10.
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadSafetensors } from '../lib/checkpoint/safetensors.js';
import { readCheckpointInfo } from '../lib/train/checkpoint.js';
import { xorshift32 } from '../test/fuzz/xorshift.js';

const { values } = parseArgs({
  options: {
    kills: { type: 'string', default: '100' },
    seed: { type: 'string', default: '1' },
    method: { type: 'string', default: 'hexa-moco' },
    epochs: { type: 'string', default: '120' },
  },
});
const kills = Number(values.kills);
const random = xorshift32(Number(values.seed));
const cli = path.resolve(import.meta.dirname, '..', 'dist', 'lib', 'cli', 'hexa.js');
// Two steps per epoch, a checkpoint (last + epoch-N) after each: saving is a good share of the time.
const flags = [
  '--method', values.method, '--data', 'cifar10', '--train-subset', '16', '--batch-size', '8', '--width', '2',
  '--image-size', '16', '--epochs', values.epochs, '--hard-view-start-epoch', '0', '--knn-every', '-1',
  '--save-every', '1', '--log-every', '1', '--threads', '1', '--seed', '3',
  ...(values.method.endsWith('moco') ? ['--moco.queue-size', '16'] : ['--dcluster.prototypes', '3,2']),
];

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hexa-crash-'));
const sha = (b: Buffer | Uint8Array) => crypto.createHash('sha256').update(b).digest('hex');

/** sha256 of every tensor of a checkpoint JSON's weights, by name. */
async function tensorHashes(json: string): Promise<Record<string, string>> {
  const info = readCheckpointInfo(json);
  const { tensors } = await loadSafetensors(path.join(path.dirname(json), info.weights));
  const out: Record<string, string> = {};
  for (const [name, t] of Object.entries(tensors)) {
    out[name] = sha(new Uint8Array((await t.data()).buffer));
    t.dispose();
  }
  return out;
}

const tempFiles = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => /\.tmp-\d+-/.test(f)) : []);
const pidOf = (tempName: string) => Number(/\.tmp-(\d+)-/.exec(tempName)![1]);

// The reference: the same run, never interrupted.
const t0 = performance.now();
const refOut = path.join(tmp, 'reference');
const ref = spawnSync(process.execPath, [cli, 'train', ...flags, '--out', refOut], { encoding: 'utf8' });
if (ref.status !== 0) throw new Error(`the reference run failed: ${ref.stderr}`);
const refSeconds = (performance.now() - t0) / 1000;
const refHashes = await tensorHashes(path.join(refOut, 'checkpoints', 'last.json'));
const refNames = Object.keys(refHashes).sort();
const refSteps = fs.readFileSync(path.join(refOut, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((l) => l.type === 'step');
const secondsPerEpoch = refSteps.at(-1).elapsedSeconds / Number(values.epochs);

const out = path.join(tmp, 'crashed');
const ckpt = path.join(out, 'checkpoints');
const failures: string[] = [];
let killedBeforeFirstStep = 0;
let killsLeavingTempFiles = 0;
let runsCompletedEarly = 0;
let tempFilesCleaned = 0;
const pendingTemps = new Map<string, number>(); // temp file -> the kill that left it

/** `hexa train --out DIR --resume` once a checkpoint exists, else the fresh run's command (the kill came before any save). */
const trainArgs = () => (fs.existsSync(path.join(ckpt, 'last.json')) ? ['train', '--out', out, '--resume'] : ['train', ...flags, '--out', out]);

/** One run (fresh until a checkpoint exists, then --resume alone), killed after `delay` s past its first step (or before it). */
function runAndKill(kill: number): Promise<{ killed: boolean; firstStepSeen: boolean; metricsFrom: number; pid: number; startedAt: number }> {
  const args = trainArgs();
  const metricsFile = path.join(out, 'metrics.jsonl');
  const metricsFrom = fs.existsSync(metricsFile) ? fs.statSync(metricsFile).size : 0;
  const startedAt = Date.now();
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  // One in ten kills lands during start-up (loading the checkpoint, the data); the rest at a
  // uniform moment within ~1.2 epochs after the run's first step (training or saving).
  const early = random() < 0.1;
  const delayMs = early ? random() * 2000 : random() * secondsPerEpoch * 1.2 * 1000;
  let firstStepSeen = false;
  let timer: NodeJS.Timeout | null = early ? setTimeout(() => child.kill('SIGKILL'), delayMs) : null;
  const onOutput = (chunk: Buffer) => {
    if (!firstStepSeen && / step \d+\/\d+ loss /.test(chunk.toString())) {
      firstStepSeen = true;
      timer ??= setTimeout(() => child.kill('SIGKILL'), delayMs);
    }
  };
  let stderr = '';
  child.stdout.on('data', onOutput);
  child.stderr.on('data', (c: Buffer) => ((stderr += c.toString()), onOutput(c)));
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (signal !== 'SIGKILL' && code !== 0) failures.push(`kill ${kill}: the run exited ${code ?? signal}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
      resolve({ killed: signal === 'SIGKILL', firstStepSeen, metricsFrom, pid: child.pid!, startedAt });
    });
  });
}

let kill = 0;
for (; kill < kills; kill++) {
  const r = await runAndKill(kill);
  if (!r.killed) {
    runsCompletedEarly++;
    break;
  }
  if (!r.firstStepSeen) killedBeforeFirstStep++;
  // Every checkpoint this run wrote (and last.json) loads, with the reference's tensor names.
  if (fs.existsSync(ckpt)) {
    const written = (f: string) => f === 'last.json' || fs.statSync(path.join(ckpt, f)).mtimeMs >= r.startedAt;
    for (const json of fs.readdirSync(ckpt).filter((f) => f.endsWith('.json') && written(f))) {
      try {
        const names = Object.keys(await tensorHashes(path.join(ckpt, json))).sort();
        if (names.join() !== refNames.join()) failures.push(`kill ${kill}: ${json} has ${names.length} tensors, the reference ${refNames.length}`);
      } catch (e) {
        failures.push(`kill ${kill}: ${json} does not load: ${(e as Error).message}`);
      }
    }
  }
  // Did this run complete a save? A step logged by it after an epoch end it ran (saves
  // happen at epoch ends, and the next step starts only after the save returned).
  const metrics = fs.existsSync(path.join(out, 'metrics.jsonl')) ? fs.readFileSync(path.join(out, 'metrics.jsonl')).subarray(r.metricsFrom).toString() : '';
  const steps = metrics.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).filter((l) => l.type === 'step');
  const savedInThisRun = steps.some((s) => s.epochStep === 0 && s.globalStep > steps[0].globalStep);
  const temps = tempFiles(ckpt);
  if (savedInThisRun) {
    for (const [name, leftBy] of pendingTemps) {
      if (temps.includes(name)) failures.push(`kill ${kill}: ${name} (left by kill ${leftBy}) survived a completed save`);
      else tempFilesCleaned++;
      pendingTemps.delete(name);
    }
  }
  const mine = temps.filter((f) => pidOf(f) === r.pid);
  if (mine.length) killsLeavingTempFiles++;
  for (const name of mine) pendingTemps.set(name, kill);
  if ((kill + 1) % 10 === 0) process.stderr.write(`crash: ${kill + 1}/${kills} kills, ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
}

// The last resume, to the end.
const last = spawnSync(process.execPath, [cli, ...trainArgs()], { encoding: 'utf8' });
if (last.status !== 0) failures.push(`the final resume failed: ${last.stderr}`);
const leftover = tempFiles(ckpt);
if (leftover.length) failures.push(`temp files after the final run: ${leftover.join(', ')}`);
const finalHashes = last.status === 0 ? await tensorHashes(path.join(ckpt, 'last.json')) : {};
const differing = refNames.filter((n) => finalHashes[n] !== refHashes[n]);
if (differing.length) failures.push(`${differing.length} tensors differ from the uninterrupted run: ${differing.slice(0, 5).join(', ')}`);
const backbone = path.join(out, 'backbone.safetensors');
const backboneEqual = fs.existsSync(backbone) && sha(fs.readFileSync(path.join(refOut, 'backbone.safetensors'))) === sha(fs.readFileSync(backbone));
if (!backboneEqual) failures.push('backbone.safetensors differs from the uninterrupted run');
const finalInfo = last.status === 0 ? readCheckpointInfo(path.join(ckpt, 'last.json')) : null;

console.log(
  JSON.stringify({
    method: values.method,
    kills: kill,
    killedBeforeFirstStep,
    killsLeavingTempFiles,
    tempFilesCleanedBySeenSaves: tempFilesCleaned,
    runsCompletedEarly,
    referenceSeconds: Math.round(refSeconds),
    totalSeconds: Math.round((performance.now() - t0) / 1000),
    finalGlobalStep: finalInfo?.globalStep,
    tensorsCompared: refNames.length,
    tensorsDiffering: differing.length,
    backboneEqual,
    failures,
  }),
);
if (failures.length === 0) fs.rmSync(tmp, { recursive: true, force: true });
else process.stderr.write(`crash: runs kept in ${tmp}\n`);
process.exit(failures.length === 0 && kill === kills ? 0 : 1);
