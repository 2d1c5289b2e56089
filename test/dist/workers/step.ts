// One rank of the 2-process proofs (test/dist/*.test.ts): joins the world on the given port,
// builds the shared inputs from one seed, runs its part and writes what the test compares.
//   node --import tsx step.ts <rank> <port> <case> <out dir>
// cases: moco, moco-shuffle (one MoCo step), dcluster (bank pass + k-means)
import fs from 'node:fs';
import path from 'node:path';
import { saveSafetensors } from '../../../lib/checkpoint/safetensors.js';
import { Communicator } from '../../../lib/dist/communicator.js';
import { Generator, rand, scope, tensor, Tensor } from '../../../lib/tensor.js';
import { resolveConfig } from '../../../lib/train/config.js';
import { TrainerModel } from '../../../lib/train/model.js';

export const B = 4, SIZE = 16, LR = 0.05;
export const KEY_SHUFFLE = [5, 2, 7, 0, 3, 6, 1, 4];
export const mocoConfig = (shuffleBN: boolean) => resolveConfig({ method: 'moco', width: 4, seed: 3, weightDecay: 5e-4, moco: { queueSize: 16, keyMomentum: 0.9, shuffleBN } });
export const dclusterConfig = () => resolveConfig({ method: 'dcluster', width: 4, seed: 3, dcluster: { prototypes: [3, 2], kmeansIterations: 4 } });
export const N_DCLUSTER = 12;

/** The global batch of the step: views [2B, 3, S, S] from one seed (the same in every process). */
export async function globalViews(count: number, rows: number): Promise<Tensor[]> {
  const g = new Generator(99);
  const out: Tensor[] = [];
  for (let i = 0; i < count; i++) out.push(await rand([rows, 3, SIZE, SIZE], { generator: g }));
  return out;
}

export const rowsOf = (t: Tensor, lo: number, hi: number) => t.index(0, tensor(BigInt64Array.from({ length: hi - lo }, (_, i) => BigInt(lo + i)), [hi - lo]));

async function main() {
  const [rankArg, portArg, kind, out] = process.argv.slice(2);
  const rank = Number(rankArg);
  const comm = await Communicator.connect({ masterAddr: '127.0.0.1', masterPort: Number(portArg), rank, worldSize: 2, timeoutSeconds: 60 });
  try {
    await scope(async () => {
      if (kind.startsWith('moco')) {
        const model = await TrainerModel.create(mocoConfig(kind === 'moco-shuffle'), { viewSize: SIZE, datasetSize: 2 * B }, comm);
        const initial = await model.state();
        const [q, k] = await globalViews(2, 2 * B);
        const inject = kind === 'moco-shuffle' ? { keyShuffle: tensor(BigInt64Array.from(KEY_SHUFFLE, BigInt), [2 * B]) } : {};
        const m = await model.stepViews([await rowsOf(q, rank * B, (rank + 1) * B), await rowsOf(k, rank * B, (rank + 1) * B)], LR, inject);
        await saveSafetensors(path.join(out, `initial-${rank}.safetensors`), initial);
        await saveSafetensors(path.join(out, `final-${rank}.safetensors`), await model.state());
        fs.writeFileSync(path.join(out, `metrics-${rank}.json`), JSON.stringify(m));
        model.dispose();
      } else {
        const model = await TrainerModel.create(dclusterConfig(), { viewSize: SIZE, datasetSize: N_DCLUSTER }, comm);
        const initial = await model.state();
        const [a, b] = await globalViews(2, N_DCLUSTER);
        // Two bank batches per rank: rank r observes images [r·6, r·6 + 6) in two halves.
        for (const half of [0, 1]) {
          const lo = rank * 6 + half * 3;
          const idx = tensor(BigInt64Array.from({ length: 3 }, (_, i) => BigInt(lo + i)), [3]);
          await model.observeViews([await rowsOf(a, lo, lo + 3), await rowsOf(b, lo, lo + 3)], idx);
        }
        const g = new Generator(7);
        const init = [await rand([3, 128], { generator: g }), await rand([2, 128], { generator: g })];
        const setup = await model.beginEpoch(0, { initialCentroids: await Promise.all(init.map((t) => t.sub(0.5))) });
        await saveSafetensors(path.join(out, `initial-${rank}.safetensors`), initial);
        await saveSafetensors(path.join(out, `final-${rank}.safetensors`), await model.state());
        fs.writeFileSync(path.join(out, `metrics-${rank}.json`), JSON.stringify(setup));
        model.dispose();
      }
    });
  } finally {
    await comm.close();
  }
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fs.realpathSync(new URL(import.meta.url).pathname)) {
  main().catch((e) => {
    process.stderr.write(`worker ${process.argv[2]}: ${(e as Error).stack}\n`);
    process.exit(1);
  });
}
