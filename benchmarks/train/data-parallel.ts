// Data parallel: images/s of the same training run on 1 process and on N processes
// (`hexa train --nproc N`), the same global batch (per-process batch = global / N) and the
// same total threads (threads / N each). Reads the last step's imagesPerSecond (global, over
// the run so far) from each run's metrics.jsonl.
//   npx tsx benchmarks/train/data-parallel.ts [nproc=2] [method=moco] [images=1024] [batch=64] [width=8] [threads=2] [device=cpu]
// On a CPU machine the N processes share its cores: the comparison shows the cost of the
// collectives and of splitting the work, not a speed-up (that needs N devices).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { environment } from '../harness.js';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const [nprocArg, method, imagesArg, batchArg, widthArg, threadsArg, device] = ['2', 'moco', '1024', '64', '8', '2', 'cpu'].map((d, i) => process.argv[2 + i] ?? d);
const [nproc, images, batch, width, threads] = [nprocArg, imagesArg, batchArg, widthArg, threadsArg].map(Number);

console.log(environment());
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hexa-bench-dp-'));
const rows: string[] = [];
try {
  for (const n of [1, nproc]) {
    const out = path.join(tmp, `n${n}`);
    const args = ['--import', 'tsx', path.join(root, 'lib', 'cli', 'hexa.ts'), 'train', ...(n > 1 ? ['--nproc', String(n), '--master-port', String(29700 + n)] : []),
      '--method', method, '--data', 'cifar10', '--train-subset', String(images), '--batch-size', String(batch / n), '--epochs', '1', '--width', String(width),
      '--threads', String(Math.max(1, Math.floor(threads / n))), '--knn-every', '-1', '--device', device, '--out', out, '--hard-view-start-epoch', '0'];
    const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${n} process(es) failed:\n${r.stderr}`);
    const steps = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((l) => l.type === 'step');
    const last = steps[steps.length - 1];
    rows.push(`${String(n).padStart(2)} process(es) × batch ${batch / n} × ${Math.max(1, Math.floor(threads / n))} thread(s): ${last.imagesPerSecond.toFixed(1)} images/s (${steps.length} steps, ${last.elapsedSeconds.toFixed(1)} s)`);
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
console.log(`${method}, ${images} CIFAR-10 images, global batch ${batch}, resnet18 width ${width}, ${device}:`);
for (const r of rows) console.log('  ' + r);
