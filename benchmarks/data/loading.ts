// Data-layer throughput: CIFAR-10 loading and batching, a BatchLoader epoch, image-folder
// decoding. Peers: numpy/torch doing the same reads and gathers (benchmarks/data/peers/loading.py).
//   npx tsx benchmarks/data/loading.ts
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { data } from '../../lib/index.js';
import { environment, measureCopyBandwidth, printTable, runPeer, summarize, time, type Row, type Timing } from '../harness.js';

const BATCH = 256;
const here = dirname(fileURLToPath(import.meta.url));

function peerTiming(peer: Record<string, unknown>, key: string): Timing {
  return summarize(peer[key] as number[]);
}

async function drain(it: AsyncIterable<unknown>): Promise<number> {
  let n = 0;
  for await (const _ of it) n++;
  return n;
}

export async function benchmark(opts: { device: string; copyGBs: number }): Promise<Row[]> {
  void opts.device; // host-side work: the device does not matter
  const cifarDir = join(dirname(createRequire(import.meta.url).resolve('cifar-10/package.json')), 'cifar-10-batches-bin22');
  const peer = runPeer(join(here, 'peers', 'loading.py'), [cifarDir, String(BATCH)]);
  const rows: Row[] = [];
  const trainBytes = 5 * 30730000;

  rows.push({ kernel: 'loadCifar10 (MD5 check)', shape: 'train 50000', ours: await time(() => data.loadCifar10(), { warmup: 1, minIters: 5, minMs: 0 }), peer: { name: 'numpy+hashlib', timing: peerTiming(peer, 'load_verify') }, bytes: trainBytes });
  rows.push({ kernel: 'loadCifar10 (verify: false)', shape: 'train 50000', ours: await time(() => data.loadCifar10({ verify: false }), { warmup: 1, minIters: 5, minMs: 0 }), peer: { name: 'numpy', timing: peerTiming(peer, 'load') }, bytes: trainBytes });

  const cifar = await data.loadCifar10({ verify: false });
  const rng = new data.Random(0);
  rows.push({
    kernel: 'cifar batch() random indices',
    shape: `${BATCH}x3x32x32`,
    ours: await time(() => cifar.batch(Uint32Array.from({ length: BATCH }, () => rng.below(50000))), { minIters: 200 }),
    peer: { name: 'torch index_select', timing: peerTiming(peer, 'batch') },
    bytes: 2 * BATCH * 3072,
  });
  const loader = new data.BatchLoader(cifar, { batchSize: BATCH, seed: 1 });
  let epoch = 0;
  rows.push({ kernel: 'BatchLoader.batches epoch', shape: `50000 / ${BATCH}`, ours: await time(() => drain(loader.batches(epoch++)), { warmup: 1, minIters: 5, minMs: 0 }), peer: { name: 'torch randperm+index_select', timing: peerTiming(peer, 'epoch') }, bytes: 2 * 50000 * 3072 });
  rows.push({ kernel: 'BatchLoader.tensors epoch', shape: `50000 / ${BATCH}`, ours: await time(() => drain(loader.tensors(epoch++)), { warmup: 1, minIters: 5, minMs: 0 }), bytes: 3 * 50000 * 3072 });

  // Image folder: 96 JPEGs of 320x240 decoded to 224x224 ('cover').
  const sharp = (await import('sharp')).default;
  const dir = mkdtempSync(join(tmpdir(), 'hexa-bench-folder-'));
  try {
    mkdirSync(join(dir, 'a'));
    const noise = Buffer.alloc(320 * 240 * 3);
    for (let k = 0; k < 96; k++) {
      for (let i = 0; i < noise.length; i++) noise[i] = (i * 31 + k * 17 + ((i >> 7) & 63)) & 255;
      await sharp(noise, { raw: { width: 320, height: 240, channels: 3 } }).jpeg({ quality: 90 }).toFile(join(dir, 'a', `${String(k).padStart(3, '0')}.jpg`));
    }
    const all = Uint32Array.from({ length: 96 }, (_, i) => i);
    for (const concurrency of [1, 3]) {
      const folder = await data.loadImageFolder(dir, { size: 224, concurrency });
      rows.push({ kernel: `image folder decode (concurrency ${concurrency})`, shape: '96 jpeg 320x240 -> 224', ours: await time(() => folder.batch(all), { warmup: 1, minIters: 3, minMs: 0 }) });
    }
    const cached = await data.loadImageFolder(dir, { size: 224, cacheBytes: 96 * 3 * 224 * 224 });
    await cached.batch(all);
    rows.push({ kernel: 'image folder, all cached', shape: '96 x 3x224x224', ours: await time(() => cached.batch(all), { minIters: 10 }), bytes: 2 * 96 * 3 * 224 * 224 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  printTable('data loading (CPU)', rows, opts.copyGBs);
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(environment());
  const copyGBs = await measureCopyBandwidth();
  console.log(`copy bandwidth ${copyGBs.toFixed(1)} GB/s`);
  await benchmark({ device: 'cpu', copyGBs });
}
