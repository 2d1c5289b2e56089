// End to end: one MoCo-v2 / HEXA_MoCo iteration on given views (no augmentation), ours vs a
// PyTorch user's version in the same run (benchmarks/train/peers/moco_step.py), plus the cost
// of our batched augmentation of one view. On CUDA also ours with cudaGraph beside ours eager.
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
// Ours as a user runs it (the defaults: float32, channels_last activations, no environment
// settings) and with precision 'bf16'; the peers: PyTorch as written (default), tuned as
// PyTorch's CPU performance guides advise (jemalloc; + channels_last; + torch.compile), and
// with bf16 autocast (+ torch.compile).
const tuned = device === 'cpu' ? tunedPeerEnv() : { name: '', env: {} };
for (const method of ['moco', 'hexa-moco'] as const) {
  const shape = `${n}x3x${size}x${size}, resnet18 w${width}, K=${queueSize}`;
  const peerArgs = [method, String(n), String(width), String(size), String(queueSize), String(iters), device];
  const peer = (name: string, flags: string[], env: Record<string, string>) => ({
    name, timing: summarize(runPeer(path.join(here, 'peers', 'moco_step.py'), [...peerArgs, ...flags], env).times_ms as number[]),
  });
  // fp16 (autocast + loss scale) only on CUDA: CPUs without float16 arithmetic run it ~8x slower.
  for (const precision of device === 'cpu' ? (['fp32', 'bf16'] as const) : (['fp32', 'bf16', 'fp16'] as const)) {
    const model = await TrainerModel.create(resolveConfig({ method, width, moco: { queueSize }, batchSize: n, device, precision }), { viewSize: size, datasetSize: n });
    const g = new Generator(0);
    const vq = await (await rand([n, 3, size, size], { generator: g })).to(device);
    const vk = await (await rand([n, 3, size, size], { generator: g })).to(device);
    const ours = await time(() => model.stepViews([vq, vk], 0.03), { warmup: 1, minIters: iters, minMs: 0, maxIters: iters, device });
    model.dispose();
    const kernel = `${method} step${precision === 'fp32' ? '' : ` (${precision})`}`;
    if (device === ('cuda' as string) && precision !== 'fp16') {
      // The same step captured in a CUDA graph, beside ours eager (the ratio is the graph's
      // gain). Warm-up covers the graph's eager warm-up steps and its capture. (fp16's loss
      // scale reads the device to skip a step, so it does not capture.)
      const graphed = await TrainerModel.create(resolveConfig({ method, width, moco: { queueSize }, batchSize: n, device, precision, cudaGraph: true }), { viewSize: size, datasetSize: n });
      const graph = await time(() => graphed.stepViews([vq, vk], 0.03), { warmup: 5, minIters: iters, minMs: 0, maxIters: iters, device });
      graphed.dispose();
      rows.push({ kernel: `${kernel} (cudaGraph)`, shape, ours: graph, peer: { name: 'ours eager', timing: ours } });
    }
    const tunedName = tuned.name ? ` + ${tuned.name}` : '';
    // torch.compile (Inductor) runs on both devices here (CPU: it compiles C++ with the system
    // g++); its compile time falls in the peer's warm-up steps and is not timed.
    const peers = precision === 'fp32'
      ? [peer('PyTorch eager', [], {}), peer(`PyTorch${tunedName}`, [], tuned.env), peer(`PyTorch${tunedName} + channels_last`, ['channels_last'], tuned.env),
          peer(`PyTorch${tunedName} + channels_last + torch.compile`, ['channels_last', 'compile'], tuned.env)]
      : precision === 'bf16'
        ? [peer(`PyTorch${tunedName} + channels_last + bf16 autocast`, ['channels_last', 'bf16'], tuned.env),
            peer(`PyTorch${tunedName} + channels_last + bf16 autocast + torch.compile`, ['channels_last', 'bf16', 'compile'], tuned.env)]
        : [peer('PyTorch + channels_last + fp16 autocast + GradScaler', ['channels_last', 'fp16'], {})];
    for (const p of peers) rows.push({ kernel, shape, ours, peer: p });
  }
}
const images = await tensor(new Uint8Array(n * 3 * size * size).map((_, i) => (i * 37) % 256), [n, 3, size, size]).to(device);
const aug = await time(() => scope(async () => applyAugment(images, await sampleAugment(n, size, size), size, size)), { warmup: 2, minIters: 10, minMs: 200, device });
rows.push({ kernel: 'augment one view (sample + apply)', shape: `${n}x3x${size}x${size} uint8`, ours: aug });
printTable(`one training iteration (${device})`, rows);
for (const r of new Map(rows.filter((r) => r.kernel.includes(' step')).map((r) => [r.kernel, r])).values()) {
  console.log(`${r.kernel}: ${((n / r.ours.medianMs) * 1000).toFixed(1)} images/s`);
}
