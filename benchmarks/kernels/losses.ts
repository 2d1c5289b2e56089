// Benchmarks of the loss and clustering kernels against the PyTorch code a user would write
// (peers/losses.py: eager, and torch.compile on CUDA), same shapes, same run.
//   npx tsx benchmarks/kernels/losses.ts [cpu|cuda]
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Device, Generator, info, kernels, randn, type Tensor, zeros } from '../../lib/index.js';
import { printTable, runGroup, type Row, runPeer, type Timing, time } from '../harness.js';

const here = path.dirname(fileURLToPath(import.meta.url));

async function unit(shape: number[], gen: Generator, device: Device): Promise<Tensor> {
  const x = await randn(shape, { generator: gen, device });
  const n = await x.normalize(1);
  x.dispose();
  return n;
}

type PeerTimings = Record<string, Record<string, Timing>>;

function peerRows(kernel: string, shape: string, ours: Timing, peer: Record<string, Timing> | undefined, bytes?: number): Row[] {
  if (!peer) return [{ kernel, shape, ours, bytes }];
  return Object.entries(peer).map(([name, timing]) => ({ kernel, shape, ours, peer: { name: `torch ${name}`, timing }, bytes }));
}

export async function benchmark(opts: { device: string; copyGBs: number }): Promise<Row[]> {
  const device = opts.device as Device;
  const threads = info().threads;
  const peer = runPeer(path.join(here, 'peers', 'losses.py'), [device, String(threads)]) as PeerTimings;
  const gen = new Generator(0);
  const rows: Row[] = [];

  for (const K of [4096, 65536]) {
    const N = 256, C = 128;
    const q = await unit([N, C], gen, device), k = await unit([N, C], gen, device), queue = await unit([K, C], gen, device);
    const out = await zeros([N, C], { device });
    const ours = await time(async () => {
      const r = await kernels.infoNCE(q, k, queue, { temperature: 0.2, grad: true, out });
      r.loss.dispose();
    }, { device });
    // Minimum traffic: read q, k, queue once; write gradQ (the logits buffer is extra).
    const bytes = 4 * (2 * N * C + K * C + N * C);
    rows.push(...peerRows('infoNCE fwd+bwd', `N=${N} C=${C} K=${K}`, ours, peer[`infonce_${K}`], bytes));
    for (const t of [q, k, queue, out]) t.dispose();
  }

  {
    const N = 50000, K = 3000, C = 128;
    const x = await unit([N, C], gen, device), c = await unit([K, C], gen, device);
    const r0 = await kernels.kmeansAssign(x, c);
    const out = { index: r0.index, score: r0.score };
    const ours = await time(() => kernels.kmeansAssign(x, c, { out }), { warmup: 2, minIters: 5, device });
    rows.push(...peerRows('kmeansAssign', `N=${N} K=${K} C=${C}`, ours, peer.kmeans_assign, 4 * (N * C + K * C) + 12 * N));
    for (const t of [x, c, out.index, out.score]) t.dispose();
  }

  printTable(`losses and clustering (${device}, ${threads} threads)`, rows, opts.copyGBs);
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) await runGroup(benchmark);
