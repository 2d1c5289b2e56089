// Diagnostics for the CUDA differential failures the GPU check found (run by check.sh's
// `diagnose` part; on the CPU it runs the same code against itself):
//  graph:    MoCo-v2 and HEXA_MoCo, the CUDA-graph trainer and the uncaptured static one on the
//            same 12 steps: metrics per step side by side, the first step where they part, the
//            worst tensors at the end.
//  dcluster: DeepCluster-v2 (with and without small crops) and HEXA_DCluster on the CPU and on
//            CUDA, the same injected inputs, state after the bank pass, after k-means and after
//            steps 0 and 1: the worst tensors CUDA vs CPU each time.
//  paths:    MoCo-v2 and HEXA_MoCo on the CPU, on CUDA (default step) and on CUDA (static step):
//            which CUDA path parts from the CPU, per step.
//   node --import tsx scripts/gpu/diagnose.ts [paths|graph|dcluster|all] [device=cuda]
import { cuda, Generator, rand, tensor, type Tensor } from '../../lib/index.js';
import { resolveConfig } from '../../lib/train/config.js';
import { TrainerModel } from '../../lib/train/model.js';

const what = process.argv[2] ?? 'all';
const device = (process.argv[3] ?? 'cuda') as 'cuda';
const long = (xs: number[]) => tensor(BigInt64Array.from(xs, BigInt), [xs.length]);

async function flat(model: TrainerModel): Promise<Map<string, Float64Array>> {
  const out = new Map<string, Float64Array>();
  for (const [k, t] of Object.entries(await model.state())) out.set(k, Float64Array.from(await t.data(), Number));
  return out;
}

function worst(a: Map<string, Float64Array>, b: Map<string, Float64Array>, top = 8): string {
  const rows: Array<[number, string, number]> = [];
  for (const [k, y] of b) {
    const x = a.get(k);
    if (!x || x.length !== y.length) { rows.push([Infinity, k, 0]); continue; }
    let d = 0, n = 0;
    for (let i = 0; i < y.length; i++) (d += (x[i] - y[i]) ** 2), (n += y[i] ** 2);
    rows.push([Math.sqrt(d) / Math.max(Math.sqrt(n), 1e-12), k, Math.sqrt(n / y.length)]);
  }
  rows.sort((p, q) => q[0] - p[0]);
  return rows.slice(0, top).map(([e, k, rms]) => `  ${e.toExponential(2)} ${k} (rms ${rms.toExponential(1)})`).join('\n');
}

async function graph(method: 'moco' | 'hexa-moco') {
  const n = 6, size = 16;
  const cfg = resolveConfig({
    method, device, width: 4, moco: { queueSize: 10, keyMomentum: 0.9 }, weightDecay: 5e-4, seed: 3,
    adversarial: { eps: 8 / 255, stepSize: 2 / 255, steps: 2, randomStart: true, weight: 0.7 }, cutmix: { alpha: 1, weight: 0.6 },
  });
  const lrs = [0.05, 0.03, 0.04, 0.02];
  const runs: Record<string, { model: TrainerModel; m: string[] }> = {};
  for (const [name, extra] of [['graph', { cudaGraph: true }], ['static', { staticStep: true }]] as const) {
    const model = await TrainerModel.create(cfg, { viewSize: size, datasetSize: n }, undefined, extra);
    const views = new Generator(99);
    const m: string[] = [];
    for (let s = 0; s < 12; s++) {
      const q = await (await rand([n, 3, size, size], { generator: views })).to(device);
      const k = await (await rand([n, 3, size, size], { generator: views })).to(device);
      const r = await model.stepViews([q, k], lrs[s % 4], { hardViewScale: 1 });
      m.push(`${r.lossClean.toFixed(6)} ${r.lossAdv.toFixed(6)} ${r.lossMix.toFixed(6)} acc ${r.accuracy.toFixed(3)} replay ${r.cudaGraphReplay ?? '-'}`);
    }
    runs[name] = { model, m };
  }
  console.log(`== graph ${method}: step | graph clean adv mix | static clean adv mix`);
  runs.graph.m.forEach((g, s) => console.log(`${s} | ${g} | ${runs.static.m[s]}${g.split(' replay')[0] === runs.static.m[s].split(' replay')[0] ? '' : '   <- differs'}`));
  console.log(`worst tensors graph vs static after 12 steps:\n${worst(await flat(runs.graph.model), await flat(runs.static.model))}`);
}

// Which CUDA path parts from the CPU (the path checked against PyTorch): MoCo-v2 and HEXA_MoCo
// (attack step 0) on the CPU, on CUDA with the default step and with the uncaptured static
// step, the same 21 steps as test/train/cuda-graph.test.ts; per step each CUDA run's clean loss
// relative to the CPU's, and the worst tensors at the end.
async function paths(method: 'moco' | 'hexa-moco', channelsLast = true) {
  const n = 6, size = 16;
  const lrs = [0.05, 0.03, 0.04, 0.02];
  const sched = [...Array(8).fill(1), ...Array(3).fill(0.5), ...Array(5).fill(0), ...Array(5).fill(1)].map((scale: number, i) => ({ lr: lrs[i % 4], scale }));
  const run = async (dev: 'cpu' | 'cuda', extra: { staticStep?: boolean }) => {
    const cfg = resolveConfig({
      method, device: dev, width: 4, moco: { queueSize: 10, keyMomentum: 0.9 }, weightDecay: 5e-4, seed: 3, channelsLast,
      adversarial: { eps: 8 / 255, stepSize: 0, steps: 2, randomStart: true, weight: 0.7 }, cutmix: { alpha: 1, weight: 0.6 },
    });
    const model = await TrainerModel.create(cfg, { viewSize: size, datasetSize: n }, undefined, extra);
    const views = new Generator(99);
    const clean: number[] = [];
    for (const { lr, scale } of sched) {
      const q = await rand([n, 3, size, size], { generator: views }), k = await rand([n, 3, size, size], { generator: views });
      const on = async (t: Tensor) => (dev === 'cpu' ? t : t.to(dev));
      clean.push((await model.stepViews([await on(q), await on(k)], lr, { hardViewScale: scale })).lossClean);
    }
    return { model, clean };
  };
  const cpu = await run('cpu', {});
  console.log(`== paths ${method}, ${channelsLast ? 'channels-last' : 'NCHW'} (21 steps, attack step 0): clean loss relative to the CPU, per step`);
  for (const [name, extra] of [['cuda default', {}], ['cuda static', { staticStep: true }]] as const) {
    const r = await run(device as 'cuda', extra);
    console.log(`${name}: ${r.clean.map((v, i) => (Math.abs(v - cpu.clean[i]) / Math.abs(cpu.clean[i])).toExponential(1)).join(' ')}`);
    console.log(`${name} vs cpu, worst tensors after 21 steps:\n${worst(await flat(r.model), await flat(cpu.model), 3)}`);
    r.model.dispose();
  }
  cpu.model.dispose();
}

async function dcluster(method: 'dcluster' | 'hexa-dcluster', smallCrops: number, channelsLast = false) {
  const nData = 8, n = 4, size = 16, small = 8;
  const hexa = method === 'hexa-dcluster';
  console.log(`== ${method}, ${smallCrops} small crops, ${channelsLast ? 'channels-last' : 'NCHW'}; TF32 ${JSON.stringify(cuda.allowTF32())}`);
  const make = (dev: 'cpu' | 'cuda') => TrainerModel.create(resolveConfig({
    method, device: dev, width: 4, outDim: 16, seed: 4, channelsLast, weightDecay: 5e-4, optimizer: 'sgd',
    dcluster: { prototypes: [3, 2], headHidden: 12, smallCrops, kmeansIterations: 10 },
    adversarial: { eps: 8 / 255, stepSize: 2 / 255, steps: 2, randomStart: true, weight: 0.7 }, cutmix: { alpha: 1, weight: 0.6 },
  }), { viewSize: size, datasetSize: nData });
  const cpu = await make('cpu'), gpu = await make(device);
  console.log(`initial weights, cuda vs cpu\n${worst(await flat(gpu), await flat(cpu), 2)}`);
  const g = new Generator(11);
  for (const order of [[5, 1, 7, 3], [0, 2, 4, 6]]) {
    const v = [await rand([n, 3, size, size], { generator: g }), await rand([n, 3, size, size], { generator: g })];
    await cpu.observeViews(v, long(order));
    await gpu.observeViews(await Promise.all(v.map((t) => t.to(device))), long(order));
  }
  console.log(`after the bank pass:\n${worst(await flat(gpu), await flat(cpu), 2)}`);
  const bank = Array.from(await (await flat(cpu)).get('bank')!);
  const seeds = [[0, 3, 6], [1, 5]];
  const init = seeds.map((rows, h) => tensor(Float32Array.from(rows.flatMap((r) => bank.slice(((h % 2) * nData + r) * 16, ((h % 2) * nData + r + 1) * 16))), [rows.length, 16]));
  await cpu.beginEpoch(0, { initialCentroids: init });
  await gpu.beginEpoch(0, { initialCentroids: await Promise.all(init.map((t) => t.to(device))) });
  console.log(`after k-means:\n${worst(await flat(gpu), await flat(cpu), 2)}`);
  for (const [s, idx] of [[2, 7, 0, 5], [6, 1, 3, 4]].entries()) {
    const views = [await rand([n, 3, size, size], { generator: g }), await rand([n, 3, size, size], { generator: g })];
    for (let c = 0; c < smallCrops; c++) views.push(await rand([n, 3, small, small], { generator: g }));
    const noise = await (await (await rand([n, 3, size, size], { generator: g })).mul(2 * (8 / 255))).sub(8 / 255);
    const perm = long(s === 0 ? [3, 0, 1, 2] : [1, 0, 3, 2]);
    const boxes = tensor(BigInt64Array.from([2, 3, 9, 12, 0, 0, 5, 16, 10, 10, 16, 16, 0, 0, 16, 16].map((v, i) => BigInt(s === 1 && i % 4 === 0 ? v >> 1 : v))), [n, 4]);
    const a = await cpu.stepViews(views, 0.05, hexa ? { indices: long(idx), pgdNoise: noise, perm, boxes } : { indices: long(idx) });
    const b = await gpu.stepViews(await Promise.all(views.map((t) => t.to(device))), 0.05,
      hexa ? { indices: long(idx), pgdNoise: await noise.to(device), perm, boxes } : { indices: long(idx) });
    console.log(`step ${s}: cpu ${[a.lossClean, a.lossAdv, a.lossMix].map((x) => x.toFixed(6))} | cuda ${[b.lossClean, b.lossAdv, b.lossMix].map((x) => x.toFixed(6))}`);
    console.log(`after step ${s}, cuda vs cpu:\n${worst(await flat(gpu), await flat(cpu), 4)}`);
  }
}

if (device === 'cuda' && !cuda.isAvailable()) throw new Error('diagnose.ts: no CUDA device');
const before = device === 'cuda' ? cuda.allowTF32() : undefined;
if (device === 'cuda') cuda.setAllowTF32(false);
// Each part on its own: one that throws is reported and the others still run (a lease is short).
const part = async (name: string, f: () => Promise<void>) => {
  if (what !== name && what !== 'all') return;
  try {
    await f();
  } catch (e) {
    console.log(`== ${name} FAILED: ${(e as Error).message.split('\n')[0]}`);
  }
};
// NCHW too: the CUDA runs that parted were NCHW (DeepCluster's test) or long; the MoCo CUDA
// test that passes is channels-last and 2 steps.
await part('paths', async () => {
  for (const m of ['moco', 'hexa-moco'] as const) await paths(m);
  await paths('moco', false);
});
await part('graph', async () => {
  for (const m of ['moco', 'hexa-moco'] as const) await graph(m);
});
// Which term parts CUDA from the CPU: the clean multi-crop loss alone (NCHW and channels-last),
// with small crops, then with the hard views.
await part('dcluster', async () => {
  await dcluster('dcluster', 0);
  await dcluster('dcluster', 0, true);
  await dcluster('dcluster', 1);
  await dcluster('hexa-dcluster', 1);
});
if (before !== undefined) cuda.setAllowTF32(before);
