import { Generator, rand } from '../lib/index.js';
import { resolveConfig } from '../lib/train/config.js';
import { TrainerModel } from '../lib/train/model.js';
const n = 64, size = 32;
const method = (process.argv[2] ?? 'moco') as 'moco';
const extra = JSON.parse(process.argv[3] ?? '{}');
const model = await TrainerModel.create(resolveConfig({ method, width: 16, moco: { queueSize: 4096 }, batchSize: n, ...extra }), { viewSize: size, datasetSize: n });
const g = new Generator(0);
const vq = await rand([n, 3, size, size], { generator: g });
const vk = await rand([n, 3, size, size], { generator: g });
await model.stepViews([vq, vk], 0.03);
const ts: number[] = [];
for (let i = 0; i < 7; i++) { const t = performance.now(); await model.stepViews([vq, vk], 0.03); ts.push(performance.now() - t); }
ts.sort((a, b) => a - b);
console.log(method, JSON.stringify(extra), 'median', ts[3].toFixed(0), 'all', ts.map((x) => x.toFixed(0)).join(' '));
