// Calls every exported native function with random, mostly wrong arguments and checks that
// each call either returns a valid result or throws/rejects a JS Error: never a crash.
// Run in a child process by fuzz.test.ts, so a crash shows up as a non-zero exit.
//
//   tsx test/fuzz/fuzz-child.ts <seed> <calls> [concurrency]
// With concurrency > 1, up to that many calls are in flight at once, and a third of the calls
// are well-formed calls of the ops that read index tensors (k-means, CutMix, cluster CE, kNN)
// on shared tensors that other in-flight calls overwrite: with out-of-range values
// (copyBuffers), in place (cutmix inplace) or as an output (kmeansAssign's out.index).
import { native } from '../../lib/native.js';
import { xorshift32 } from './xorshift.js';
import type { TensorHandle } from '../../lib/native-types.js';

const seed = Number(process.argv[2] ?? 1);
const calls = Number(process.argv[3] ?? 5000);
const concurrency = Number(process.argv[4] ?? 1);
const random = xorshift32(seed);
const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)];

const b = native();
const made: TensorHandle[] = [];
const keep = (h: TensorHandle) => (made.push(h), h);
const f32 = keep(b.tensor(new Float32Array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]), [2, 3]));
const f64 = keep(b.tensor(new Float64Array([1, 2, 3, 4, 5, 6]), [3, 2]));
const i64 = keep(b.tensor(new BigInt64Array([0n, 1n]), [2]));
const u8 = keep(b.tensor(new Uint8Array(3 * 4 * 4), [1, 3, 4, 4]));
const scalar = keep(b.tensor(new Float32Array([2]), []));
const empty = keep(b.tensor(new Float32Array(0), [0, 3]));
const disposed = b.tensor(new Float32Array(2), [2]);
disposed.dispose();
const gen = new b.Generator(5);

const numbers = [0, 1, -1, 2, 3, 0.5, -0, 1e9, -1e9, NaN, Infinity, -Infinity, 2 ** 53, 7];
const tensors: unknown[] = [f32, f64, i64, u8, scalar, empty, disposed];
const shapes = [[], [0], [3], [2, 3], [1, 1, 1], [-1], [1.5], ['a'], [NaN], [2 ** 41], [2, 3, 4, 5, 6, 7, 8, 9, 1, 1, 1, 1, 1, 1, 1, 1, 1]];
const strings = ['', 'cpu', 'cuda', 'cuda:1', 'float32', 'int64', 'linf', 'l2', 'bogus', 'x'.repeat(100)];
const objects = [
  {},
  { dtype: 'float64' },
  { device: 'cuda' },
  { dtype: 'nope' },
  { eps: -1, stepSize: NaN },
  { eps: 0.1, stepSize: 0.01, norm: 'linf' },
  { temperature: 0.2 },
  { temperature: NaN },
  { generator: gen },
  { generator: {} },
  { perm: i64 },
  Object.create(Object.getPrototypeOf(f32)), // a forged handle: right prototype, no native object
  new Proxy({}, { get: () => { throw new Error('getter throws'); } }),
];
const arrays = [[f32, f64], [f32, f32], [], [disposed], [1, 2], [f32, 'x']];
const typed = [new Float32Array(6), new Float64Array(3), new Int16Array(2), new Uint16Array(2), new BigInt64Array(2)];
const pool: unknown[] = [...numbers, ...tensors, ...shapes, ...strings, ...objects, ...arrays, ...typed, undefined, null, true, () => 1, Symbol('s'), 10n, gen];

function randomArg(): unknown {
  const r = random();
  if (r < 0.35) return pick(tensors);
  if (r < 0.5) return pick(numbers);
  if (r < 0.6) return pick(shapes);
  if (r < 0.75) return pick(objects);
  return pick(pool);
}

function isValidResult(v: unknown): boolean {
  if (v === undefined || typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') return true;
  if (ArrayBuffer.isView(v)) return true;
  if (typeof v === 'object' && v !== null) return true; // handles, info objects, result records
  return false;
}

function disposeAll(v: unknown): void {
  if (v && typeof v === 'object') {
    if (typeof (v as TensorHandle).dispose === 'function' && 'isDisposed' in (v as object)) (v as TensorHandle).dispose();
    else if (!ArrayBuffer.isView(v)) Object.values(v as object).forEach(disposeAll);
  }
}

const skip = new Set(['TensorHandle', 'Generator']);
const fns = Object.entries(b as unknown as Record<string, unknown>).filter(
  ([k, v]) => typeof v === 'function' && !skip.has(k),
) as Array<[string, (...a: unknown[]) => unknown]>;

// Shared tensors of the well-formed calls (concurrent mode only).
const FAR = 2n ** 40n;
const n = 16384;
const k = 256;
const int64 = (f: (i: number) => bigint, shape: number[]) => keep(b.tensor(BigInt64Array.from({ length: shape.reduce((a, d) => a * d, 1) }, (_, i) => f(i)), shape));
const assign = int64((i) => BigInt(i % k), [n]);
const goodAssign = int64((i) => BigInt(i % k), [n]);
const perm = int64((i) => BigInt(n - 1 - i), [n]);
const goodPerm = int64((i) => BigInt(n - 1 - i), [n]);
const boxes = int64((j) => (j % 4 < 2 ? 1n : 3n), [n, 4]);
const goodBoxes = int64((j) => (j % 4 < 2 ? 1n : 3n), [n, 4]);
const evil = int64((i) => (i % 2 ? FAR : -FAR), [n]);
const evilBoxes = int64((j) => (j % 4 < 2 ? 0n : FAR), [n, 4]);
const xk = keep(await b.randn([n, 16]));
const centroids = keep(await b.randn([k, 16]));
const score = keep(await b.zeros([n]));
const x4 = keep(await b.rand([n, 1, 4, 4]));
const lambda = keep(await b.rand([n], { dtype: 'float64' }));
const z = keep(await b.randn([n, 16]));
const queries = keep(await b.randn([128, 16]));
const wellFormed: Array<[string, () => unknown]> = [
  ['kmeansUpdateCentroids', () => b.kmeansUpdateCentroids(xk, assign, k, { previous: centroids })],
  ['kmeansAssign', () => b.kmeansAssign(xk, centroids, { out: { index: assign, score } })],
  ['cutmix', () => b.cutmix(x4, { perm, boxes })],
  ['cutmix', () => b.cutmix(x4, { perm, boxes, inplace: true })],
  ['cutmixTargets', () => b.cutmixTargets(lambda, perm, k, { columns: assign })],
  ['clusterCE', () => b.clusterCE(z, centroids, assign, { grad: true })],
  ['knnPredict', () => b.knnPredict(xk, assign, queries, { k: 5, classes: k })],
  ['copyBuffers', () => b.copyBuffers([assign], [pick([evil, goodAssign])])],
  ['copyBuffers', () => b.copyBuffers([perm], [pick([evil, goodPerm])])],
  ['copyBuffers', () => b.copyBuffers([boxes], [pick([evilBoxes, goodBoxes])])],
];

const threads = b.info().threads;
const counts = { calls: 0, ok: 0, threw: 0, rejected: 0, bad: 0 };
const failures: string[] = [];
async function call(name: string, fn: () => unknown): Promise<void> {
  counts.calls++;
  try {
    const r = fn();
    if (r instanceof Promise) {
      try {
        const v = await r;
        counts.ok++;
        disposeAll(v);
      } catch (e) {
        if (e instanceof Error && e.message.length > 0) counts.rejected++;
        else (counts.bad++, failures.push(`${name}: rejected with a non-Error ${String(e)}`));
      }
    } else {
      if (isValidResult(r)) counts.ok++;
      else (counts.bad++, failures.push(`${name}: returned ${String(r)}`));
      if (name === 'tensor') disposeAll(r);
    }
  } catch (e) {
    if (e instanceof Error && e.message.length > 0) counts.threw++;
    else (counts.bad++, failures.push(`${name}: threw a non-Error ${String(e)}`));
  }
}

const inFlight = new Set<Promise<void>>();
for (let i = 0; i < calls; i++) {
  let name: string;
  let run: () => unknown;
  if (concurrency > 1 && random() < 1 / 3) {
    [name, run] = pick(wellFormed);
  } else {
    const [fnName, fn] = pick(fns);
    const args = Array.from({ length: Math.floor(random() * 5) }, randomArg);
    name = fnName;
    run = () => fn(...args);
  }
  const p = call(name, run);
  if (concurrency <= 1) {
    await p;
    continue;
  }
  inFlight.add(p);
  void p.finally(() => inFlight.delete(p));
  if (inFlight.size >= concurrency) await Promise.race(inFlight);
}
await Promise.all(inFlight);
b.setNumThreads(threads);
made.forEach((h) => h.dispose());
console.log(JSON.stringify({ seed, functions: fns.length, ...counts, failures: failures.slice(0, 20) }));
