// End to end: one MoCo-v2 / HEXA_MoCo iteration on given views (no augmentation), ours vs a
// PyTorch user's version in the same run (benchmarks/train/peers/moco_step.py), plus the cost
// of our batched augmentation of one view.
// Ours and the peers take turns: `rounds` rounds of `iters` steps each (harness interleave()),
// the peers kept running between their turns; medians over the pooled steps.
//   npx tsx benchmarks/train/step.ts [batch=128] [width=16] [iters=5] [device=cpu] [rounds=3] [peers=all|no-compile]
// CPU: one group per precision (ours fp32 / bf16 beside PyTorch eager, tuned, + torch.compile;
// bf16 where the CPU has bfloat16 arithmetic, or with HEXA_BENCH_BF16=1).
// CUDA: one group per method, every variant of ours (fp32, bf16, fp16; eager and cudaGraph,
// the latter held back from the config in this release: its rows measure speed only)
// beside PyTorch fp32 eager and PyTorch with autocast + channels_last (the GPU's tuned peer),
// each ours-variant compared with both. `no-compile` leaves out the torch.compile peers (on a
// GPU their compile takes minutes of a short lease).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyAugment, sampleAugment } from '../../lib/augment/index.js';
import { Generator, info, rand, scope, tensor } from '../../lib/index.js';
import { resolveConfig } from '../../lib/train/config.js';
import { TrainerModel } from '../../lib/train/model.js';
import { environment, interleave, PeerProcess, printTable, roundRatios, sample, summarize, time, preloadAllocators, type Row } from '../harness.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const [n, width, iters] = [128, 16, 5].map((d, i) => Number(process.argv[2 + i] ?? d));
const device = (process.argv[5] ?? 'cpu') as 'cpu';
const rounds = Number(process.argv[6] ?? 3);
const peerSet = process.argv[7] ?? 'all';
if (peerSet !== 'all' && peerSet !== 'no-compile') throw new Error(`step.ts: peers must be 'all' or 'no-compile', got '${peerSet}'`);
const onCuda = device !== 'cpu';
// CPU bf16 rows only where the CPU has bfloat16 arithmetic: emulated, both sides run 12-14x
// slower than float32 (an AVX2-only EPYC, 2026-12-02) and the rows would take most of the run.
const withBf16 = info().cpu.nativeBf16 !== false || process.env.HEXA_BENCH_BF16 === '1';
const size = 32, queueSize = 4096;

type Precision = 'fp32' | 'bf16' | 'fp16';
/** One of ours: the trainer's precision and whether its step is captured in a CUDA graph. */
type OursSpec = { name: string; precision: Precision; cudaGraph: boolean };
/** One PyTorch peer: its moco_step.py flags and environment. */
type PeerSpec = { name: string; flags: string[]; env: Record<string, string> };
/** Contenders timed in turns, and the table rows: [row label, ours-variant name, peer name]. */
type Group = { ours: OursSpec[]; peers: PeerSpec[]; rows: Array<[string, string, string]> };

const label = (method: string, precision: Precision, cudaGraph = false) => {
  const tags = [precision === 'fp32' ? '' : precision, cudaGraph ? 'cudaGraph' : ''].filter(Boolean);
  return `${method} step${tags.length ? ` (${tags.join(', ')})` : ''}`;
};
const oursName = (precision: Precision, cudaGraph = false) => label('ours', precision, cudaGraph).replace('ours step', 'ours');
const withCompile = (peers: PeerSpec[]) => (peerSet === 'all' ? peers : peers.filter((p) => !p.flags.includes('compile')));

// CPU: ours as a user runs it (the defaults: float32, channels_last activations, no environment
// settings) and with precision 'bf16'; the peers: PyTorch as written (default), tuned as
// PyTorch's CPU performance guides advise (channels_last, alone and with tcmalloc or jemalloc
// preloaded; + torch.compile), and with bf16 autocast the same ways. The summary names the
// fastest peer of each row group: which preload helps depends on the machine.
// torch.compile (Inductor) compiles C++ with the system g++; its compile time falls in the
// peer's warm-up steps and is not timed.
function cpuGroups(method: string): Group[] {
  const allocators = preloadAllocators();
  const tunedWays = (flags: string[], what: string): PeerSpec[] => [
    { name: `PyTorch + ${what}`, flags, env: {} },
    ...allocators.map((a) => ({ name: `PyTorch + ${a.name} + ${what}`, flags, env: a.env })),
    { name: `PyTorch + ${what} + torch.compile`, flags: [...flags, 'compile'], env: {} },
  ];
  const fp32 = withCompile([{ name: 'PyTorch eager', flags: [], env: {} }, ...tunedWays(['channels_last'], 'channels_last')]);
  const bf16 = withCompile(tunedWays(['channels_last', 'bf16'], 'channels_last + bf16 autocast'));
  const precisions = withBf16 ? ([['fp32', fp32], ['bf16', bf16]] as const) : ([['fp32', fp32]] as const);
  return precisions.map(([precision, peers]) => ({
    ours: [{ name: oursName(precision), precision, cudaGraph: false }],
    peers,
    rows: peers.map((p) => [label(method, precision), oursName(precision), p.name] as [string, string, string]),
  }));
}

// CUDA: TF32 as LibTorch's defaults on both sides (cuDNN convolutions TF32, matmuls float32).
// fp16 (autocast + loss scale) reads the device to skip a step, so it is not captured.
function cudaGroup(method: string): Group {
  const eager = 'PyTorch eager', cl = 'PyTorch + channels_last';
  const clBf16 = `${cl} + bf16 autocast`, clFp16 = `${cl} + fp16 autocast + GradScaler`;
  const peers = withCompile([
    { name: eager, flags: [], env: {} },
    { name: cl, flags: ['channels_last'], env: {} },
    { name: clBf16, flags: ['channels_last', 'bf16'], env: {} },
    { name: clFp16, flags: ['channels_last', 'fp16'], env: {} },
    { name: `${cl} + torch.compile`, flags: ['channels_last', 'compile'], env: {} },
    { name: `${clBf16} + torch.compile`, flags: ['channels_last', 'bf16', 'compile'], env: {} },
  ]);
  const ours: OursSpec[] = [];
  const rows: Array<[string, string, string]> = [];
  for (const precision of ['fp32', 'bf16', 'fp16'] as const) {
    for (const cudaGraph of precision === 'fp16' ? [false] : [false, true]) {
      const name = oursName(precision, cudaGraph);
      ours.push({ name, precision, cudaGraph });
      const row = label(method, precision, cudaGraph);
      if (cudaGraph) rows.push([row, name, oursName(precision)]);  // the graph's own gain
      const same = precision === 'fp32' ? [cl, `${cl} + torch.compile`] : precision === 'bf16' ? [clBf16, `${clBf16} + torch.compile`] : [clFp16];
      for (const peer of new Set([eager, clBf16, ...same])) rows.push([row, name, peer]);
    }
  }
  return { ours, peers, rows };
}

console.log(environment());
if (!onCuda && !withBf16) console.log('bf16 rows left out: this CPU has no bfloat16 arithmetic (AVX512-BF16 or AMX), so bf16 is emulated on both sides; HEXA_BENCH_BF16=1 runs them');
const rows: Row[] = [];
for (const method of ['moco', 'hexa-moco'] as const) {
  const shape = `${n}x3x${size}x${size}, resnet18 w${width}, K=${queueSize}`;
  const peerArgs = [method, String(n), String(width), String(size), String(queueSize), String(iters), device];
  const peerScript = path.join(here, 'peers', 'moco_step.py');
  const g = new Generator(0);
  const vq = await (await rand([n, 3, size, size], { generator: g })).to(device);
  const vk = await (await rand([n, 3, size, size], { generator: g })).to(device);
  for (const group of onCuda ? [cudaGroup(method)] : cpuGroups(method)) {
    const models: TrainerModel[] = [];
    const peers: Array<{ name: string; process: PeerProcess }> = [];
    const failed = new Map<string, string>();
    try {
      // Ours, each warmed up here (cudaGraph: its eager warm-up steps and the capture), then
      // `count` timed steps per turn. A variant that fails is reported and left out, so one
      // broken path does not cost the others' numbers.
      const contenders: Array<{ name: string; run: (count: number) => Promise<number[]> }> = [];
      for (const spec of group.ours) {
        try {
          // cudaGraph through the trainer's own option: the config holds it back in this release
          // (docs/training.md, "CUDA graphs"), the benchmark still measures what it would gain.
          const model = await TrainerModel.create(
            resolveConfig({ method, width, moco: { queueSize }, batchSize: n, device, precision: spec.precision }),
            { viewSize: size, datasetSize: n }, undefined, spec.cudaGraph ? { cudaGraph: true } : {});
          models.push(model);
          const step = () => model.stepViews([vq, vk], 0.03);
          await sample(step, { warmup: spec.cudaGraph ? 5 : 2, minIters: 0, maxIters: 0, minMs: 0, device });
          contenders.push({ name: spec.name, run: (count) => sample(step, { warmup: 0, minIters: count, maxIters: count, minMs: 0, device }) });
        } catch (e) {
          failed.set(spec.name, (e as Error).message);
        }
      }
      // The peers start side by side (each imports torch and warms up; torch.compile compiles).
      const started = await Promise.allSettled(group.peers.map((p) => PeerProcess.start(peerScript, [...peerArgs, ...p.flags], p.env)));
      started.forEach((s, i) => {
        if (s.status === 'fulfilled') peers.push({ name: group.peers[i].name, process: s.value });
        else failed.set(group.peers[i].name, String(s.reason?.message ?? s.reason));
      });
      for (const p of peers) contenders.push({ name: p.name, run: (count) => p.process.run(count) });
      // A contender that throws in its turn is reported and sits out the remaining turns.
      const guarded = contenders.map((c) => ({
        name: c.name,
        run: async (count: number) => {
          if (failed.has(c.name)) return [];
          try {
            return await c.run(count);
          } catch (e) {
            failed.set(c.name, (e as Error).message);
            return [];
          }
        },
      }));
      const timings = await interleave(guarded, rounds, iters);
      for (const [kernel, a, b] of group.rows) {
        const ours = failed.has(a) ? undefined : timings.get(a), peer = failed.has(b) ? undefined : timings.get(b);
        // Both ran (a failure is reported below; a peer left out by no-compile has no row).
        if (ours && peer) rows.push({ kernel, shape, ours, peer: { name: b.startsWith('ours') ? `${b} (same run)` : b, timing: peer } });
      }
      for (const [name, why] of failed) console.log(`${method}: ${name} FAILED: ${why.split('\n').slice(0, 6).join(' | ')}`);
    } finally {
      for (const p of peers) await p.process.close();
      for (const m of models) m.dispose();
    }
  }
}
const images = await tensor(new Uint8Array(n * 3 * size * size).map((_, i) => (i * 37) % 256), [n, 3, size, size]).to(device);
const aug = await time(() => scope(async () => applyAugment(images, await sampleAugment(n, size, size), size, size)), { warmup: 2, minIters: 10, minMs: 200, device });
rows.push({ kernel: 'augment one view (sample + apply)', shape: `${n}x3x${size}x${size} uint8`, ours: aug });
printTable(`one training iteration (${device})`, rows);
// The same speed-ups round by round (ours and the peer within one round of turns).
for (const r of rows) {
  const ratios = r.peer ? roundRatios(r.ours, r.peer.timing) : [];
  if (ratios.length > 1) {
    console.log(`${r.kernel} vs ${r.peer!.name}: per round ${ratios.map((x) => x.toFixed(2)).join(', ')} (median ${summarize(ratios).medianMs.toFixed(2)})`);
  }
}
// Against the fastest peer of each row group (ours against the best Python in the same run).
for (const kernel of new Set(rows.map((r) => r.kernel))) {
  const peers = rows.filter((r) => r.kernel === kernel && r.peer && !r.peer.name.startsWith('ours'));
  if (peers.length < 2) continue;
  const best = peers.reduce((a, b) => (b.peer!.timing.medianMs < a.peer!.timing.medianMs ? b : a));
  const ratios = roundRatios(best.ours, best.peer!.timing);
  console.log(`${kernel}: fastest peer ${best.peer!.name}, ${best.peer!.timing.medianMs.toFixed(1)} ms: ` +
    `${(best.peer!.timing.medianMs / best.ours.medianMs).toFixed(2)}x` + (ratios.length > 1 ? ` (per round ${ratios.map((x) => x.toFixed(2)).join(', ')})` : ''));
}
for (const r of new Map(rows.filter((r) => r.kernel.includes(' step')).map((r) => [r.kernel, r])).values()) {
  console.log(`${r.kernel}: ${((n / r.ours.medianMs) * 1000).toFixed(1)} images/s`);
}
