// Benchmarks of the hard-view and momentum-encoder kernels against the PyTorch code a user
// would write (peers/hard_views.py, eager), same shapes, same run.
//   npx tsx benchmarks/kernels/hard-views.ts [cpu|cuda]
// Our timings are taken from TS and include the async dispatch of each call (argument checks,
// the compute thread's queue, a Promise settled on the event loop: roughly 10-20 µs on the
// 2-core VM, more for long tensor lists), which the Python peer does not pay.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Device, Generator, info, kernels, rand, randn, type Tensor, zeros } from '../../lib/index.js';
import { printTable, runGroup, type Row, runPeer, type Timing, time } from '../harness.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const EPS = 8 / 255, STEP = 2 / 255;
const PGD_SHAPES = [
  [256, 3, 32, 32],
  [64, 3, 224, 224],
];
const ENQUEUE = { K: 65536, C: 128, N: 256 };

// ---- torchvision's ResNet parameter layouts (weights and biases only; BN running stats are buffers)

function bn(c: number): number[][] {
  return [[c], [c]];
}

/** Parameter shapes of torchvision's resnet18 (BasicBlock, [2, 2, 2, 2]): 62 tensors, 11 689 512 values. */
export function resnet18Shapes(): number[][] {
  const shapes: number[][] = [[64, 3, 7, 7], ...bn(64)];
  let inC = 64;
  for (const [width, stride] of [[64, 1], [128, 2], [256, 2], [512, 2]]) {
    for (let b = 0; b < 2; b++) {
      shapes.push([width, inC, 3, 3], ...bn(width), [width, width, 3, 3], ...bn(width));
      if (b === 0 && (stride !== 1 || inC !== width)) shapes.push([width, inC, 1, 1], ...bn(width));
      inC = width;
    }
  }
  return [...shapes, [1000, 512], [1000]];
}

/** Parameter shapes of torchvision's resnet50 (Bottleneck, [3, 4, 6, 3]): 161 tensors, 25 557 032 values. */
export function resnet50Shapes(): number[][] {
  const shapes: number[][] = [[64, 3, 7, 7], ...bn(64)];
  let inC = 64;
  for (const [width, blocks] of [[64, 3], [128, 4], [256, 6], [512, 3]]) {
    for (let b = 0; b < blocks; b++) {
      shapes.push([width, inC, 1, 1], ...bn(width), [width, width, 3, 3], ...bn(width), [4 * width, width, 1, 1], ...bn(4 * width));
      if (b === 0) shapes.push([4 * width, inC, 1, 1], ...bn(4 * width));
      inC = 4 * width;
    }
  }
  return [...shapes, [1000, 2048], [1000]];
}

const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);
type PeerTimings = Record<string, Timing>;

function row(kernel: string, shape: string, ours: Timing, peers: PeerTimings, peerKey: string, bytes: number): Row {
  const timing = peers[peerKey];
  return { kernel, shape, ours, peer: timing ? { name: `torch ${peerKey.split('/')[0]}`, timing } : undefined, bytes };
}

// Back-to-back calls per timed sample on CUDA (one synchronize), as the peer's '-b2b' entries.
const BACK_TO_BACK = 20;

export async function benchmark(opts: { device: string; copyGBs: number }): Promise<Row[]> {
  const device = opts.device as Device;
  const threads = info().threads;
  const resnets = { resnet18: resnet18Shapes(), resnet50: resnet50Shapes() };
  const peers = runPeer(path.join(here, 'peers', 'hard_views.py'), [
    JSON.stringify({ device, pgdShapes: PGD_SHAPES, resnets, enqueue: ENQUEUE }),
  ]) as PeerTimings;
  const gen = new Generator(0);
  const rows: Row[] = [];

  for (const shape of PGD_SHAPES) {
    const key = shape.join('x');
    const label = `[${shape}]`;
    const [n, , h, w] = shape;
    const bytes4 = 4 * numel(shape) * 4; // read xAdv, xClean, grad; write the result
    const xc = await rand(shape, { generator: gen, device });
    const xa = await kernels.pgdInit(xc, { eps: 0.05, generator: gen });
    const g = await randn(shape, { generator: gen, device });
    const out = await zeros(shape, { device });
    const linfOut = await time(() => kernels.pgdStep(xa, xc, g, { eps: EPS, stepSize: STEP, out }), { device });
    rows.push(row('pgdStep linf (out)', label, linfOut, peers, `pgd-linf-eager/${key}`, bytes4));
    if (device.startsWith('cuda')) {
      const b2b = await time(() => kernels.pgdStep(xa, xc, g, { eps: EPS, stepSize: STEP, out }), { device, backToBack: BACK_TO_BACK });
      rows.push(row(`pgdStep linf (out), ${BACK_TO_BACK} back-to-back`, label, b2b, peers, `pgd-linf-eager-b2b/${key}`, bytes4));
    }
    // As a user calls it: a new result tensor every call (the CPU caching allocator's case).
    const linfNew = await time(async () => (await kernels.pgdStep(xa, xc, g, { eps: EPS, stepSize: STEP })).dispose(), { device });
    rows.push(row('pgdStep linf (new tensor)', label, linfNew, peers, `pgd-linf-eager/${key}`, bytes4));
    const linfInplace = await time(() => kernels.pgdStep(xa, xc, g, { eps: EPS, stepSize: STEP, inplace: true }), { device });
    rows.push(row('pgdStep linf (inplace)', label, linfInplace, peers, `pgd-linf-inplace/${key}`, bytes4));
    const l2 = await time(() => kernels.pgdStep(xa, xc, g, { eps: 10 * EPS, stepSize: 10 * STEP, norm: 'l2', out }), { device });
    rows.push(row('pgdStep l2 (out)', label, l2, peers, `pgd-l2-eager/${key}`, bytes4));

    const layout = await kernels.sampleCutmix(n, h, w, { generator: gen });
    const bytes2 = 2 * numel(shape) * 4; // read the batch, write the batch
    const cut = await time(() => kernels.cutmix(xc, { ...layout, out }), { device });
    rows.push(row('cutmix (out)', label, cut, peers, `cutmix-loop/${key}`, bytes2));
    rows.push(row('cutmix (out)', label, cut, peers, `cutmix-vectorised/${key}`, bytes2));
    const cutNew = await time(async () => (await kernels.cutmix(xc, layout)).dispose(), { device });
    rows.push(row('cutmix (new tensor)', label, cutNew, peers, `cutmix-loop/${key}`, bytes2));
    const cutInplace = await time(() => kernels.cutmix(out, { ...layout, inplace: true }), { device });
    rows.push({ kernel: 'cutmix (inplace: moves box pixels only)', shape: label, ours: cutInplace });
    for (const t of [xc, xa, g, out, layout.boxes, layout.perm, layout.lambda]) t.dispose();
  }

  for (const [name, shapes] of Object.entries(resnets)) {
    const total = shapes.reduce((a, s) => a + numel(s), 0);
    const target: Tensor[] = [], source: Tensor[] = [];
    for (const s of shapes) {
      target.push(await rand(s, { generator: gen, device }));
      source.push(await rand(s, { generator: gen, device }));
    }
    const ours = await time(() => kernels.momentumUpdate(target, source, 0.999), { device });
    const label = `${name}: ${shapes.length} tensors, ${(total / 1e6).toFixed(2)}M`;
    for (const peer of ['momentum-loop', 'momentum-foreach-lerp', 'momentum-foreach-mul-add'])
      rows.push(row('momentumUpdate', label, ours, peers, `${peer}/${name}`, 3 * 4 * total));
    if (device.startsWith('cuda')) {
      const b2b = await time(() => kernels.momentumUpdate(target, source, 0.999), { device, backToBack: BACK_TO_BACK });
      rows.push(row(`momentumUpdate, ${BACK_TO_BACK} back-to-back`, label, b2b, peers, `momentum-foreach-lerp-b2b/${name}`, 3 * 4 * total));
    }
    for (const t of [...target, ...source]) t.dispose();
  }

  {
    const { K, C, N } = ENQUEUE;
    const queue = await zeros([K, C], { device });
    const keys = await rand([N, C], { generator: gen, device });
    let ptr = K - N / 2; // starts at a wrap, then walks the ring
    const ours = await time(async () => {
      ptr = await kernels.enqueue(queue, keys, ptr);
    }, { device });
    rows.push(row('enqueue', `K=${K} C=${C} N=${N}`, ours, peers, `enqueue/${K}x${C}+${N}`, 2 * 4 * N * C));
    queue.dispose();
    keys.dispose();
  }

  // torch copy_ at the kernels' own shapes, beside the 256 MB ceiling of measureCopyBandwidth().
  const copyLines = PGD_SHAPES.map((shape) => {
    const t = peers[`copy/${shape.join('x')}`];
    return t ? `torch copy_ [${shape}]: ${t.medianMs.toFixed(3)} ms = ${((2 * 4 * numel(shape)) / (t.medianMs * 1e6)).toFixed(1)} GB/s` : '';
  });
  printTable(`hard views and momentum encoder (${device}, ${threads} threads; ours timed from TS incl. ~10-20 µs async dispatch per call)`, rows, opts.copyGBs);
  console.log(copyLines.filter(Boolean).join('\n'));
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) await runGroup(benchmark);
