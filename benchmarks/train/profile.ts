// Where the time of one training iteration goes, ours beside the PyTorch peer's, op by op:
// LibTorch's profiler on both sides (hexa.profiler here, torch.profiler in
// benchmarks/train/peers/moco_step.py), the same iterations, self time per op name (time in
// an op minus the ops it calls), summed over the profiled iterations and divided by them.
// Our fused kernels appear as hexa::<kernel> (native/kernels/device_dispatch.h,
// HEXA_RECORD_KERNEL), so the BatchNorm's forward and the trainer's direct kernel calls are
// attributed too; "wall" minus "all recorded ops" is what no op covers.
//   npx tsx benchmarks/train/profile.ts [method=hexa-moco] [batch=64] [width=16] [iters=5] [top=25] [precision=fp32]
// The peers: PyTorch as written, and with channels_last as ours; precision bf16: ours with
// precision 'bf16', both peers with bf16 autocast.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Generator, profiler, rand } from '../../lib/index.js';
import type { ProfiledOp } from '../../lib/index.js';
import { resolveConfig } from '../../lib/train/config.js';
import { TrainerModel } from '../../lib/train/model.js';
import { environment, runPeer } from '../harness.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const method = (process.argv[2] ?? 'hexa-moco') as 'moco' | 'hexa-moco';
const [n, width, iters, top] = [64, 16, 5, 25].map((d, i) => Number(process.argv[3 + i] ?? d));
const precision = process.argv[7] ?? 'fp32';
if (precision !== 'fp32' && precision !== 'bf16') throw new Error(`profile.ts: precision must be 'fp32' or 'bf16', got '${precision}'`);
const size = 32, queueSize = 4096;

/** Self time per op name (µs per iteration) and call counts, from nested op intervals. */
export function selfTimes(ops: ProfiledOp[], iterations: number): Map<string, { us: number; calls: number }> {
  const out = new Map<string, { us: number; calls: number }>();
  const byThread = new Map<number, ProfiledOp[]>();
  for (const op of ops) (byThread.get(op.thread) ?? byThread.set(op.thread, []).get(op.thread)!).push(op);
  for (const list of byThread.values()) {
    list.sort((a, b) => a.startUs - b.startUs || b.endUs - a.endUs);
    const stack: Array<{ op: ProfiledOp; children: number }> = [];
    const close = (e: { op: ProfiledOp; children: number }) => {
      const r = out.get(e.op.name) ?? { us: 0, calls: 0 };
      r.us += (e.op.endUs - e.op.startUs - e.children) / iterations;
      r.calls += 1 / iterations;
      out.set(e.op.name, r);
      if (stack.length) stack[stack.length - 1].children += e.op.endUs - e.op.startUs;
    };
    for (const op of list) {
      while (stack.length && stack[stack.length - 1].op.endUs <= op.startUs) close(stack.pop()!);
      stack.push({ op, children: 0 });
    }
    while (stack.length) close(stack.pop()!);
  }
  return out;
}

console.log(environment());
const model = await TrainerModel.create(resolveConfig({ method, width, moco: { queueSize }, batchSize: n, precision }), { viewSize: size, datasetSize: n });
const g = new Generator(0);
const vq = await rand([n, 3, size, size], { generator: g });
const vk = await rand([n, 3, size, size], { generator: g });
for (let i = 0; i < 2; i++) await model.stepViews([vq, vk], 0.03);
await profiler.start();
const t0 = performance.now();
for (let i = 0; i < iters; i++) await model.stepViews([vq, vk], 0.03);
const oursWall = (performance.now() - t0) / iters;
const oursOps = await profiler.stop();
model.dispose();

const args = [method, String(n), String(width), String(size), String(queueSize), String(iters), 'cpu', 'profile'];
const bf16 = precision === 'bf16' ? ['bf16'] : [];
const peers = [
  { name: `PyTorch${bf16.length ? '+bf16' : ''}`, r: runPeer(path.join(here, 'peers', 'moco_step.py'), [...args, ...bf16]) },
  // Tuned: channels_last as ours (glibc malloc: on our VMs the fastest peer, see step.ts).
  { name: `PyTorch+cl${bf16.length ? '+bf16' : ''}`, r: runPeer(path.join(here, 'peers', 'moco_step.py'), [...args, 'channels_last', ...bf16]) },
];
const toOps = (rows: Array<[string, number, number, number]>): ProfiledOp[] => rows.map(([name, startUs, endUs, thread]) => ({ name, startUs, endUs, thread }));
const tables = [{ name: 'ours', wall: oursWall, self: selfTimes(oursOps, iters) },
  ...peers.map((p) => ({ name: p.name, wall: (p.r.wall_ms as number) / iters, self: selfTimes(toOps(p.r.ops as Array<[string, number, number, number]>), iters) }))];

const names = [...new Set(tables.flatMap((t) => [...t.self.keys()]))];
const total = (t: (typeof tables)[number]) => [...t.self.values()].reduce((s, v) => s + v.us, 0);
names.sort((a, b) => Math.max(...tables.map((t) => t.self.get(b)?.us ?? 0)) - Math.max(...tables.map((t) => t.self.get(a)?.us ?? 0)));
console.log(`\n## ${method} iteration (${precision}), batch ${n}, ResNet-18 w${width}, K=${queueSize}: self time per op (ms per iteration, calls)`);
console.log(['op'.padEnd(44), ...tables.map((t) => t.name.padStart(22))].join(' | '));
for (const name of names.slice(0, top)) {
  console.log([name.slice(0, 44).padEnd(44), ...tables.map((t) => {
    const v = t.self.get(name);
    return (v ? `${(v.us / 1000).toFixed(2)} (${Math.round(v.calls)})` : '-').padStart(22);
  })].join(' | '));
}
console.log(['all recorded ops'.padEnd(44), ...tables.map((t) => `${(total(t) / 1000).toFixed(2)}`.padStart(22))].join(' | '));
// Op calls: on a GPU each is host work (dispatch, autograd bookkeeping) whether or not it
// launches a kernel, so this count is what an uncaptured CUDA step's host time scales with.
const calls = (t: (typeof tables)[number]) => [...t.self.values()].reduce((s, v) => s + v.calls, 0);
console.log(['recorded op calls'.padEnd(44), ...tables.map((t) => `${Math.round(calls(t))}`.padStart(22))].join(' | '));
console.log(['wall per iteration (profiled)'.padEnd(44), ...tables.map((t) => `${t.wall.toFixed(2)}`.padStart(22))].join(' | '));
