// Per-step time over many steps on fixed views: does an iteration get slower as training goes on?
import { Generator, rand } from '../../lib/index.js';
import { resolveConfig } from '../../lib/train/config.js';
import { MocoModel } from '../../lib/train/moco.js';
const [n, steps, method] = [Number(process.argv[2] ?? 64), Number(process.argv[3] ?? 150), process.argv[4] ?? 'hexa-moco'];
const model = await MocoModel.create(resolveConfig({ method, width: 16, queueSize: 4096, weightDecay: 5e-4, temperature: 0.1 }), 32);
const g = new Generator(0);
const vq = await rand([n, 3, 32, 32], { generator: g });
const vk = await rand([n, 3, 32, 32], { generator: g });
let t = performance.now();
for (let i = 1; i <= steps; i++) {
  const m = await model.stepViews(vq, vk, 0.03);
  if (i % 10 === 0) {
    const now = performance.now();
    console.log(`steps ${i - 9}-${i}: ${((now - t) / 10).toFixed(0)} ms/step, loss ${m.loss.toFixed(3)}, cpu ${(process.cpuUsage().user / 1e6).toFixed(0)} s`);
    t = now;
  }
}
