// Races an op that reads an index tensor (k-means assignments, CutMix perm/boxes, cluster-CE
// hard targets, kNN labels) against other async ops that write that tensor while it is in
// flight: out-of-range values, then valid ones again. Every call must resolve, or reject with
// an Error that names the op; the process must never crash (an out-of-bounds index in a
// kernel is a segfault). Run in a child process by race.test.ts, so a crash is an exit signal.
//
//   tsx test/fuzz/race-child.ts <scenario> <rounds> <seconds>
// Prints one JSON line: { scenario, rounds, ok, rejected, bad, failures }.
import { native } from '../../lib/native.js';
import type { TensorHandle } from '../../lib/native-types.js';
import { xorshift32 } from './xorshift.js';

const scenario = process.argv[2] ?? 'kmeans';
const rounds = Number(process.argv[3] ?? 100);
const seconds = Number(process.argv[4] ?? 30);
const b = native();

// Far outside any tensor: an index this large in a kernel is an access to unmapped memory.
const FAR = 2n ** 40n;

function int64(values: ArrayLike<bigint> | bigint[], shape: number[]): TensorHandle {
  return b.tensor(BigInt64Array.from(values as bigint[]), shape);
}
function filled(n: number, value: (i: number) => bigint): bigint[] {
  return Array.from({ length: n }, (_, i) => value(i));
}

interface Race {
  /** The op under test; it reads `victim`. */
  op: () => Promise<unknown>;
  /** The op's name: every rejection must start with it. */
  name: string;
  victim: TensorHandle;
  evil: TensorHandle;
  good: TensorHandle;
}

async function setup(): Promise<Race> {
  switch (scenario) {
    case 'kmeans': {
      const n = 400_000, c = 2, k = 16;
      const x = await b.randn([n, c]);
      const previous = await b.randn([k, c]);
      const good = int64(filled(n, (i) => BigInt(i % k)), [n]);
      const victim = await b.clone(good);
      const evil = int64(filled(n, () => FAR), [n]);
      return { name: 'kmeansUpdateCentroids', op: () => b.kmeansUpdateCentroids(x, victim, k, { previous }), victim, evil, good };
    }
    case 'cutmix-boxes':
    case 'cutmix-perm': {
      const n = 100_000, h = 4, w = 4;
      const x = await b.rand([n, 1, h, w]);
      const perm = int64(filled(n, (i) => BigInt(n - 1 - i)), [n]);
      const boxes = int64(filled(4 * n, (j) => (j % 4 < 2 ? 1n : 3n)), [n, 4]);
      if (scenario === 'cutmix-perm') {
        const victim = await b.clone(perm);
        const evil = int64(filled(n, () => FAR), [n]);
        return { name: 'cutmix', op: () => b.cutmix(x, { perm: victim, boxes }), victim, evil, good: perm };
      }
      const victim = await b.clone(boxes);
      const evil = int64(filled(4 * n, (j) => (j % 4 < 2 ? 0n : FAR)), [n, 4]);
      return { name: 'cutmix', op: () => b.cutmix(x, { perm, boxes: victim }), victim, evil, good: boxes };
    }
    case 'cutmix-targets': {
      const n = 200_000;
      const lambda = await b.rand([n], { dtype: 'float64' });
      const perm = int64(filled(n, (i) => BigInt(n - 1 - i)), [n]);
      const good = int64(filled(n, (i) => BigInt(i % 4)), [n]);
      const victim = await b.clone(good);
      const evil = int64(filled(n, () => FAR), [n]);
      return { name: 'cutmixTargets', op: () => b.cutmixTargets(lambda, perm, 4, { columns: victim }), victim, evil, good };
    }
    case 'cluster-ce': {
      const n = 4096, c = 32, k = 2048;
      const z = await b.randn([n, c]);
      const prototypes = await b.randn([k, c]);
      const good = int64(filled(n, (i) => BigInt(i % k)), [n]);
      const victim = await b.clone(good);
      const evil = int64(filled(n, () => FAR), [n]);
      return { name: 'clusterCE', op: () => b.clusterCE(z, prototypes, victim, { grad: true }), victim, evil, good };
    }
    case 'knn': {
      const m = 20_000, d = 16;
      const bank = await b.randn([m, d]);
      const queries = await b.randn([512, d]);
      const good = int64(filled(m, (i) => BigInt(i % 10)), [m]);
      const victim = await b.clone(good);
      const evil = int64(filled(m, () => FAR), [m]);
      return { name: 'knnPredict', op: () => b.knnPredict(bank, victim, queries, { k: 20, classes: 10 }), victim, evil, good };
    }
    default:
      throw new Error(`race-child: unknown scenario ${scenario}`);
  }
}

function disposeAll(v: unknown): void {
  if (v && typeof v === 'object') {
    if (typeof (v as TensorHandle).dispose === 'function' && 'isDisposed' in (v as object)) (v as TensorHandle).dispose();
    else if (!ArrayBuffer.isView(v)) Object.values(v as object).forEach(disposeAll);
  }
}

const random = xorshift32(12345);
const pause = (ms: number) => new Promise<void>((resolve) => (ms === 0 ? setImmediate(resolve) : setTimeout(resolve, ms)));

const race = await setup();
const counts = { ok: 0, rejected: 0, afterWrite: 0, bad: 0 };
const failures: string[] = [];
function tally(s: PromiseSettledResult<unknown>, mustReject = false): void {
  if (s.status === 'fulfilled') {
    disposeAll(s.value);
    if (!mustReject) return void counts.ok++;
    counts.bad++;
    if (failures.length < 10) failures.push(`${race.name} resolved on out-of-range indices written before it started`);
  } else if (s.reason instanceof Error && s.reason.message.startsWith(`${race.name}: `)) {
    counts.rejected++;
    if (mustReject) counts.afterWrite++;
  } else {
    counts.bad++;
    if (failures.length < 10) failures.push(String(s.reason));
  }
}
const deadline = Date.now() + seconds * 1000;
let done = 0;
for (; done < rounds && Date.now() < deadline; done++) {
  // Ops in flight on the pool, then out-of-range values written into their index tensor after
  // a random pause: the write lands before an op's checks (it must reject), after them (it
  // must not read the tensor again), or in between. An op started after the write must reject.
  const inFlight = Promise.allSettled([race.op(), race.op()]);
  await pause(Math.floor(random() * 6));
  await b.copyBuffers([race.victim], [race.evil]);
  const after = Promise.allSettled([race.op()]);
  await pause(Math.floor(random() * 3));
  (await inFlight).forEach((s) => tally(s));
  tally((await after)[0], true);
  await b.copyBuffers([race.victim], [race.good]);
}
console.log(JSON.stringify({ scenario, rounds: done, ...counts, failures }));
