// Soak: many training steps of a tiny model through the same TrainerModel the run loop uses
// (the method's augmentations in TypeScript, the native step with both hard views), checking
// that nothing accumulates:
//   - live native tensors (liveTensorCount) back to the baseline after every step;
//   - RSS flat within 10% after warm-up (max RSS over the rest <= 1.10 x RSS at the end of
//     warm-up), sampled every 100 steps.
// Not a unit test (minutes of CPU); results go to docs/hardening.md.
//
//   npx tsx scripts/soak.mts [--method hexa-moco|hexa-dcluster|moco|dcluster] [--steps 10000]
//                            [--warmup 1000] [--threads 1]
// Prints one JSON summary line; exit 1 when a check fails.
import { parseArgs } from 'node:util';
import { liveTensorCount, setNumThreads, tensor } from '../lib/index.js';
import { resolveConfig } from '../lib/train/config.js';
import { TrainerModel } from '../lib/train/model.js';

const { values } = parseArgs({
  options: {
    method: { type: 'string', default: 'hexa-moco' },
    steps: { type: 'string', default: '10000' },
    warmup: { type: 'string', default: '1000' },
    threads: { type: 'string', default: '1' },
  },
});
const steps = Number(values.steps);
const warmup = Number(values.warmup);
setNumThreads(Number(values.threads));

// A tiny model: ResNet-18 of width 2 on 8x8 images, batch 8; for DeepCluster a bank of 32
// images, 2 heads, and k-means every 4 steps (an "epoch" of the 32 images).
const batch = 8;
const datasetSize = 32;
const side = 8;
const config = resolveConfig({
  method: values.method,
  width: 2,
  batchSize: batch,
  seed: 1,
  moco: { queueSize: 32 },
  dcluster: { prototypes: [4, 3] },
});
const model = await TrainerModel.create(config, { viewSize: side, datasetSize });
const stepsPerEpoch = datasetSize / batch;

// The whole "dataset": uint8 images made once (random pixels; nothing here is about accuracy).
const pixels = new Uint8Array(datasetSize * 3 * side * side);
let s = 12345;
for (let i = 0; i < pixels.length; i++) pixels[i] = (s = (s * 1103515245 + 12345) >>> 0) >>> 24;
const images = Array.from({ length: stepsPerEpoch }, (_, b) =>
  tensor(pixels.subarray(b * batch * 3 * side * side, (b + 1) * batch * 3 * side * side), [batch, 3, side, side]),
);
const indices = Array.from({ length: stepsPerEpoch }, (_, b) => Uint32Array.from({ length: batch }, (_, i) => b * batch + i));
if (model.wantsInitPass) for (let b = 0; b < stepsPerEpoch; b++) await model.observe(images[b], indices[b]);

const baseline = liveTensorCount();
const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;
const rss: Array<[number, number]> = [];
let liveViolations = 0;
let firstViolation: { step: number; live: number } | null = null;
let nonFinite = 0;
const t0 = performance.now();
for (let step = 0; step < steps; step++) {
  const b = step % stepsPerEpoch;
  if (b === 0) await model.beginEpoch(Math.floor(step / stepsPerEpoch));
  const m = await model.step(images[b], indices[b], 0.01);
  if (!Number.isFinite(m.loss)) nonFinite++;
  const live = liveTensorCount();
  if (live !== baseline) {
    liveViolations++;
    firstViolation ??= { step, live };
  }
  if ((step + 1) % 100 === 0) rss.push([step + 1, process.memoryUsage.rss()]);
  if ((step + 1) % 1000 === 0) {
    const sec = (performance.now() - t0) / 1000;
    process.stderr.write(`soak: ${step + 1}/${steps} steps, ${sec.toFixed(0)} s, rss ${mib(process.memoryUsage.rss())} MiB, live ${live}\n`);
  }
}
const seconds = (performance.now() - t0) / 1000;
const atWarmup = rss.find(([step]) => step >= warmup)?.[1] ?? rss[0][1];
const after = rss.filter(([step]) => step > warmup).map(([, r]) => r);
const maxAfter = after.length ? Math.max(...after) : atWarmup;
const minAfter = after.length ? Math.min(...after) : atWarmup;
const summary = {
  method: values.method,
  steps,
  seconds: Math.round(seconds),
  msPerStep: Math.round((seconds * 1000) / steps),
  baselineLiveTensors: baseline,
  liveViolations,
  firstViolation,
  nonFinite,
  rssMiB: { first: mib(rss[0][1]), atWarmup: mib(atWarmup), minAfter: mib(minAfter), maxAfter: mib(maxAfter), last: mib(rss[rss.length - 1][1]) },
  rssGrowthAfterWarmup: Math.round((maxAfter / atWarmup - 1) * 10000) / 100 + '%',
};
console.log(JSON.stringify(summary));
model.dispose();
images.forEach((t) => t.dispose());
process.exit(liveViolations === 0 && nonFinite === 0 && maxAfter <= 1.1 * atWarmup ? 0 : 1);
