// Child of test/engine.test.ts: minor page faults per HEXA_MoCo training step (batch 64,
// ResNet-18 width 16: the benchmark's step) once shapes and caches have settled. A process of its
// own because glibc's mmap and trim thresholds are process-wide and grow with what the process
// freed before (a test runner's own large buffers raise them and hide the churn).
import { Generator, rand } from '../../lib/index.js';
import { resolveConfig } from '../../lib/train/config.js';
import { TrainerModel } from '../../lib/train/model.js';

const model = await TrainerModel.create(
  resolveConfig({ method: 'hexa-moco', width: 16, moco: { queueSize: 4096 }, batchSize: 64, device: 'cpu' }),
  { viewSize: 32, datasetSize: 64 });
const g = new Generator(0);
const views = [await rand([64, 3, 32, 32], { generator: g }), await rand([64, 3, 32, 32], { generator: g })];
for (let i = 0; i < 3; i++) await model.stepViews(views, 0.03);
const before = process.resourceUsage().minorPageFault;
const steps = 4;
for (let i = 0; i < steps; i++) await model.stepViews(views, 0.03);
const faultsPerStep = (process.resourceUsage().minorPageFault - before) / steps;
model.dispose();
for (const v of views) v.dispose();
console.log(JSON.stringify({ faultsPerStep }));
