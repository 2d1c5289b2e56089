// The distributed sampler (BatchLoader's `shard`, as PyTorch's DistributedSampler) and the
// world read from torchrun's environment variables.
import { describe, expect, it } from 'vitest';
import { fromArrays } from '../../lib/data/array-dataset.js';
import { BatchLoader } from '../../lib/data/loader.js';
import { epochOrder } from '../../lib/data/shuffle.js';
import { worldFromEnv } from '../../lib/dist/env.js';
import { splitLaunchFlags } from '../../lib/dist/launch.js';
import { resumeStep } from '../../lib/train/run.js';

const dataset = (n: number) => fromArrays({ images: new Uint8Array(n * 3), shape: [3, 1, 1] });

describe('BatchLoader shard', () => {
  it('every rank takes its own slice of each global batch of the one seeded order: disjoint, the same steps, reshuffled per epoch', () => {
    const n = 50, b = 4, world = 3;
    const loaders = Array.from({ length: world }, (_, rank) => new BatchLoader(dataset(n), { batchSize: b, seed: 9, dropLast: true, shard: { rank, worldSize: world } }));
    expect(loaders.map((l) => l.stepsPerEpoch)).toEqual([4, 4, 4]); // floor(50 / 12)
    for (const epoch of [0, 1]) {
      const order = epochOrder(n, 9, epoch);
      const seen: number[] = [];
      for (let step = 0; step < 4; step++) {
        const parts = loaders.map((l) => Array.from(l.indicesOf(epoch, step)));
        parts.forEach((p) => expect(p).toHaveLength(b));
        // The global batch is the single-process batch of batchSize × worldSize, in rank order.
        expect(parts.flat()).toEqual(Array.from(order.slice(step * b * world, (step + 1) * b * world)));
        seen.push(...parts.flat());
      }
      expect(new Set(seen).size).toBe(seen.length);
    }
    expect(Array.from(loaders[0].indicesOf(0, 0))).not.toEqual(Array.from(loaders[0].indicesOf(1, 0)));
  });

  it('without dropLast the last global batch is split evenly, padded from the start of the order', () => {
    const n = 10, b = 4, world = 2; // 8 + a last global batch of 2: one image per rank
    const loaders = [0, 1].map((rank) => new BatchLoader(dataset(n), { batchSize: b, shuffle: false, shard: { rank, worldSize: world } }));
    expect(loaders[0].stepsPerEpoch).toBe(2);
    expect(loaders.map((l) => Array.from(l.indicesOf(0, 1)))).toEqual([[8], [9]]);
    const odd = [0, 1, 2].map((rank) => new BatchLoader(dataset(7), { batchSize: 2, shuffle: false, shard: { rank, worldSize: 3 } }));
    // 6 + 1 left: each rank one image, the shortfall from the start (0, 1).
    expect(odd.map((l) => Array.from(l.indicesOf(0, 1)))).toEqual([[6], [0], [1]]);
  });

  it('refuses a bad shard with a message naming it', () => {
    expect(() => new BatchLoader(dataset(4), { batchSize: 2, shard: { rank: 2, worldSize: 2 } })).toThrow(/BatchLoader: options\.shard\.rank/);
    expect(() => new BatchLoader(dataset(4), { batchSize: 2, shard: { rank: 0, worldSize: 0 } })).toThrow(/options\.shard\.worldSize/);
  });
});

describe('the world of a worker', () => {
  it("reads torchrun's variables; none (or WORLD_SIZE 1) is one process", () => {
    expect(worldFromEnv({})).toBeNull();
    expect(worldFromEnv({ WORLD_SIZE: '1', RANK: '0' })).toBeNull();
    expect(worldFromEnv({ WORLD_SIZE: '4', RANK: '3', LOCAL_RANK: '1', MASTER_ADDR: 'node0', MASTER_PORT: '29400' })).toEqual({ rank: 3, worldSize: 4, localRank: 1, masterAddr: 'node0', masterPort: 29400 });
    expect(() => worldFromEnv({ WORLD_SIZE: '2', RANK: '2', MASTER_ADDR: 'a', MASTER_PORT: '1' })).toThrow(/RANK must be an integer in \[0, 1\], got '2'/);
    expect(() => worldFromEnv({ WORLD_SIZE: '2', RANK: '0', MASTER_PORT: '1' })).toThrow(/MASTER_ADDR is not set/);
    expect(() => worldFromEnv({ WORLD_SIZE: '2', MASTER_ADDR: 'a', MASTER_PORT: '1' })).toThrow(/RANK is not set/);
  });

  it("takes torchrun's flags out of a command line", () => {
    expect(splitLaunchFlags(['--epochs', '3'])).toEqual({ launch: null, rest: ['--epochs', '3'] });
    expect(splitLaunchFlags(['--nproc', '2', '--epochs', '3', '--master-port=29555'])).toEqual({
      launch: { nproc: 2, nnodes: 1, nodeRank: 0, masterAddr: '127.0.0.1', masterPort: 29555 },
      rest: ['--epochs', '3'],
    });
    expect(() => splitLaunchFlags(['--nproc', '2', '--nnodes', '2'])).toThrow(/--node-rank is needed/);
    expect(() => splitLaunchFlags(['--nproc', '2', '--nnodes', '2', '--node-rank', '1'])).toThrow(/--master-addr is needed/);
    expect(() => splitLaunchFlags(['--nproc', '0'])).toThrow(/--nproc must be an integer in \[1, 4096\], got '0'/);
    expect(() => splitLaunchFlags(['--master-port', '1234'])).toThrow(/--master-port goes with --nproc/);
  });

  it('a resumed epoch continues at the first global batch not fully seen, at any world size', () => {
    expect(resumeStep(5, 2, 2, 10)).toBe(5);
    expect(resumeStep(5, 2, 1, 20)).toBe(10); // 5 batches of 2·B = 10 batches of B
    expect(resumeStep(5, 1, 2, 10)).toBe(2); // 5·B images: batch 2 of 2·B starts at image 4·B (one batch of B again)
    expect(resumeStep(9, 4, 1, 30)).toBe(30);
  });
});
