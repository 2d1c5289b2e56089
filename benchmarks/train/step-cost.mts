import { resolveConfig } from '../../lib/train/config.js';
import { MocoModel } from '../../lib/train/moco.js';
import { rand, tensor } from '../../lib/index.js';
import { applyAugment, sampleAugment } from '../../lib/augment/index.js';
const n = 128;
const imgs = tensor(new Uint8Array(n * 3 * 32 * 32).map(() => Math.random() * 255), [n, 3, 32, 32]);
for (const [method, width] of [['moco', 16], ['hexa-moco', 16], ['hexa-moco', 8], ['hexa-moco', 32]] as const) {
  const m = await MocoModel.create(resolveConfig({ method, width, queueSize: 4096 }), 32);
  await m.step(imgs, 0.03);
  const t = performance.now();
  for (let i = 0; i < 3; i++) await m.step(imgs, 0.03);
  const dt = (performance.now() - t) / 3;
  console.log(method, width, dt.toFixed(0), 'ms/step', (n / dt * 1000).toFixed(1), 'img/s');
  m.dispose();
}
let t = performance.now();
for (let i = 0; i < 5; i++) { const p = await sampleAugment(n, 32, 32); await applyAugment(imgs, p, 32, 32); }
console.log('augment', ((performance.now() - t) / 5).toFixed(1), 'ms per view');
