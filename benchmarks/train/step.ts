// End to end: one MoCo-v2 / HEXA_MoCo iteration on given views (no augmentation), ours vs a
// PyTorch user's version in the same run (benchmarks/train/peers/moco_step.py), plus the cost
// of our batched augmentation of one view. On CUDA also ours with cudaGraph beside ours eager.
// Ours and the peers take turns: `rounds` rounds of `iters` steps each (harness interleave()),
// the peers kept running between their turns; medians over the pooled steps.
//   npx tsx benchmarks/train/step.ts [batch=128] [width=16] [iters=5] [device=cpu] [rounds=3]
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyAugment, sampleAugment } from '../../lib/augment/index.js';
import { Generator, rand, scope, tensor } from '../../lib/index.js';
import { resolveConfig } from '../../lib/train/config.js';
import { TrainerModel } from '../../lib/train/model.js';
import { environment, interleave, PeerProcess, printTable, sample, time, tunedPeerEnv, type Row } from '../harness.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const [n, width, iters] = [128, 16, 5].map((d, i) => Number(process.argv[2 + i] ?? d));
const device = (process.argv[5] ?? 'cpu') as 'cpu';
const rounds = Number(process.argv[6] ?? 3);
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
  const peerScript = path.join(here, 'peers', 'moco_step.py');
  // fp16 (autocast + loss scale) only on CUDA: CPUs without float16 arithmetic run it ~8x slower.
  for (const precision of device === 'cpu' ? (['fp32', 'bf16'] as const) : (['fp32', 'bf16', 'fp16'] as const)) {
    const create = (cudaGraph: boolean) =>
      TrainerModel.create(resolveConfig({ method, width, moco: { queueSize }, batchSize: n, device, precision, cudaGraph }), { viewSize: size, datasetSize: n });
    const g = new Generator(0);
    const vq = await (await rand([n, 3, size, size], { generator: g })).to(device);
    const vk = await (await rand([n, 3, size, size], { generator: g })).to(device);
    const kernel = `${method} step${precision === 'fp32' ? '' : ` (${precision})`}`;
    // Ours as a contender: warmed up once here, then `count` timed steps per turn.
    const contender = async (name: string, model: TrainerModel, warmup: number) => {
      await sample(() => model.stepViews([vq, vk], 0.03), { warmup, minIters: 0, maxIters: 0, minMs: 0, device });
      return { name, model, run: (count: number) => sample(() => model.stepViews([vq, vk], 0.03), { warmup: 0, minIters: count, maxIters: count, minMs: 0, device }) };
    };
    const ours = [await contender('ours', await create(false), 1)];
    // On CUDA the same step captured in a CUDA graph, beside ours eager (the ratio is the
    // graph's gain); warm-up covers its eager steps and the capture. (fp16's loss scale reads
    // the device to skip a step, so it does not capture.)
    if (device === ('cuda' as string) && precision !== 'fp16') ours.push(await contender('ours (cudaGraph)', await create(true), 5));
    const tunedName = tuned.name ? ` + ${tuned.name}` : '';
    // torch.compile (Inductor) runs on both devices here (CPU: it compiles C++ with the system
    // g++); its compile time falls in the peer's warm-up steps and is not timed.
    const specs: Array<[string, string[], Record<string, string>]> = precision === 'fp32'
      ? [['PyTorch eager', [], {}], [`PyTorch${tunedName}`, [], tuned.env], [`PyTorch${tunedName} + channels_last`, ['channels_last'], tuned.env],
          [`PyTorch${tunedName} + channels_last + torch.compile`, ['channels_last', 'compile'], tuned.env]]
      : precision === 'bf16'
        ? [[`PyTorch${tunedName} + channels_last + bf16 autocast`, ['channels_last', 'bf16'], tuned.env],
            [`PyTorch${tunedName} + channels_last + bf16 autocast + torch.compile`, ['channels_last', 'bf16', 'compile'], tuned.env]]
        : [['PyTorch + channels_last + fp16 autocast + GradScaler', ['channels_last', 'fp16'], {}]];
    const peers: Array<{ name: string; process: PeerProcess }> = [];
    try {
      for (const [name, flags, env] of specs) peers.push({ name, process: await PeerProcess.start(peerScript, [...peerArgs, ...flags], env) });
      const timings = await interleave(
        [...ours, ...peers.map((p) => ({ name: p.name, run: (count: number) => p.process.run(count) }))], rounds, iters);
      if (ours.length > 1) rows.push({ kernel: `${kernel} (cudaGraph)`, shape, ours: timings.get('ours (cudaGraph)')!, peer: { name: 'ours eager', timing: timings.get('ours')! } });
      for (const p of peers) rows.push({ kernel, shape, ours: timings.get('ours')!, peer: { name: p.name, timing: timings.get(p.name)! } });
    } finally {
      for (const p of peers) await p.process.close();
      for (const o of ours) o.model.dispose();
    }
  }
}
const images = await tensor(new Uint8Array(n * 3 * size * size).map((_, i) => (i * 37) % 256), [n, 3, size, size]).to(device);
const aug = await time(() => scope(async () => applyAugment(images, await sampleAugment(n, size, size), size, size)), { warmup: 2, minIters: 10, minMs: 200, device });
rows.push({ kernel: 'augment one view (sample + apply)', shape: `${n}x3x${size}x${size} uint8`, ours: aug });
printTable(`one training iteration (${device})`, rows);
for (const r of new Map(rows.filter((r) => r.kernel.includes(' step')).map((r) => [r.kernel, r])).values()) {
  console.log(`${r.kernel}: ${((n / r.ours.medianMs) * 1000).toFixed(1)} images/s`);
}
