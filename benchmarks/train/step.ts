// End to end: one MoCo-v2 / HEXA_MoCo iteration on given views (no augmentation), ours vs a
// PyTorch user's version in the same run (benchmarks/train/peers/moco_step.py), plus the cost
// of our batched augmentation of one view.
//   npx tsx benchmarks/train/step.ts [batch=128] [width=16] [iters=5] [device=cpu]
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyAugment, sampleAugment } from '../../lib/augment/index.js';
import { Generator, rand, scope, tensor } from '../../lib/index.js';
import { resolveConfig } from '../../lib/train/config.js';
import { TrainerModel } from '../../lib/train/model.js';
import { environment, printTable, runPeer, summarize, time, tunedPeerEnv, type Row } from '../harness.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const [n, width, iters] = [128, 16, 5].map((d, i) => Number(process.argv[2 + i] ?? d));
const device = (process.argv[5] ?? 'cpu') as 'cpu';
const size = 32, queueSize = 4096;

console.log(environment());
const rows: Row[] = [];
for (const method of ['moco', 'hexa-moco'] as const) {
  const model = await TrainerModel.create(resolveConfig({ method, width, moco: { queueSize }, batchSize: n, device }), { viewSize: size, datasetSize: n });
  const g = new Generator(0);
  const vq = await (await rand([n, 3, size, size], { generator: g })).to(device);
  const vk = await (await rand([n, 3, size, size], { generator: g })).to(device);
  const ours = await time(() => model.stepViews([vq, vk], 0.03), { warmup: 1, minIters: iters, minMs: 0, maxIters: iters, device });
  model.dispose();
  const peerArgs = [method, String(n), String(width), String(size), String(queueSize), String(iters), device];
  const shape = `${n}x3x${size}x${size}, resnet18 w${width}, K=${queueSize}`;
  const peer = runPeer(path.join(here, 'peers', 'moco_step.py'), peerArgs);
  rows.push({ kernel: `${method} step`, shape, ours, peer: { name: 'PyTorch eager', timing: summarize(peer.times_ms as number[]) } });
  // The tuned peer: what a PyTorch user who read a CPU tuning guide runs (ours needs no tuning).
  if (device === 'cpu') {
    const tuned = tunedPeerEnv();
    const tunedPeer = runPeer(path.join(here, 'peers', 'moco_step.py'), peerArgs, tuned.env);
    rows.push({ kernel: `${method} step`, shape, ours, peer: { name: `PyTorch eager + ${tuned.name}`, timing: summarize(tunedPeer.times_ms as number[]) } });
  }
}
const images = await tensor(new Uint8Array(n * 3 * size * size).map((_, i) => (i * 37) % 256), [n, 3, size, size]).to(device);
const aug = await time(() => scope(async () => applyAugment(images, await sampleAugment(n, size, size), size, size)), { warmup: 2, minIters: 10, minMs: 200, device });
rows.push({ kernel: 'augment one view (sample + apply)', shape: `${n}x3x${size}x${size} uint8`, ours: aug });
printTable(`one training iteration (${device})`, rows);
for (const r of rows.filter((r) => r.kernel.endsWith('step'))) console.log(`${r.kernel}: ${((n / r.ours.medianMs) * 1000).toFixed(1)} images/s`);
