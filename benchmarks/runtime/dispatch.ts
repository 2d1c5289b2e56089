// What one call costs by itself, ours beside PyTorch's: tiny tensors, so the time is the
// call (argument checks, the queue to the compute thread, the Promise), not the arithmetic.
//   npx tsx benchmarks/runtime/dispatch.ts [cpu|cuda]
// Two ways to call: "awaited" (each call awaited before the next, as a loop that needs each
// result; Python: one call) and "back to back" (20 calls issued, then awaited together; Python:
// 20 calls in a row). On CUDA every sample ends with a synchronize on both sides.
// Cases: x.add(x) on 64x64; momentumUpdate over 62 one-element pairs (ResNet-18's list
// length: the per-tensor cost of a list argument) vs torch._foreach_lerp_; enqueue of 2 rows
// into an 8-row queue vs a slice assignment.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Device, Generator, kernels, rand, zeros } from '../../lib/index.js';
import { environment, printTable, runPeer, time, type Row, type Timing } from '../harness.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const device = (process.argv[2] ?? 'cpu') as Device;
const LIST_LENGTH = 62, BACK_TO_BACK = 20;

console.log(environment());
const peers = runPeer(path.join(here, 'peers', 'dispatch.py'), [
  JSON.stringify({ device, listLength: LIST_LENGTH, backToBack: BACK_TO_BACK }),
]) as Record<string, Timing>;

const gen = new Generator(0);
const x = await rand([64, 64], { generator: gen, device });
const targets = await Promise.all(Array.from({ length: LIST_LENGTH }, () => zeros([1], { device })));
const sources = await Promise.all(Array.from({ length: LIST_LENGTH }, () => zeros([1], { device })));
const queue = await zeros([8, 2], { device }), keys = await rand([2, 2], { generator: gen, device });

const cases: Array<{ name: string; peer: string; shape: string; call: () => Promise<unknown> }> = [
  { name: 'x.add(x)', peer: 'add', shape: '[64,64]', call: async () => (await x.add(x)).dispose() },
  { name: 'momentumUpdate', peer: 'momentum-list', shape: `${LIST_LENGTH} pairs of [1]`, call: () => kernels.momentumUpdate(targets, sources, 0.999) },
  { name: 'enqueue', peer: 'enqueue', shape: 'K=8 C=2 N=2', call: () => kernels.enqueue(queue, keys, 0) },
];
const rows: Row[] = [];
const opts = { device, warmup: 20, minIters: 200, maxIters: 5000 };
for (const c of cases) {
  const peer = (mode: string) => {
    const timing = peers[`${c.peer}/${mode}`];
    return timing ? { name: `torch ${c.peer} (${mode})`, timing } : undefined;
  };
  rows.push({ kernel: `${c.name}, awaited`, shape: c.shape, ours: await time(c.call, opts), peer: peer('single') });
  rows.push({ kernel: `${c.name}, ${BACK_TO_BACK} back to back`, shape: c.shape, ours: await time(c.call, { ...opts, backToBack: BACK_TO_BACK }), peer: peer('b2b') });
}
printTable(`the cost of one call (${device}; ms per call)`, rows);
for (const t of [x, queue, keys, ...targets, ...sources]) t.dispose();
