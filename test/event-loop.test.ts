// Long native work runs off the event loop: timers keep firing while it runs.
import { expect, it } from 'vitest';
import { Generator, randn } from '../lib/index.js';

it('the event loop keeps ticking while a long matmul runs', async () => {
  const g = new Generator(0);
  const a = await randn([2048, 2048], { generator: g });
  const b = await randn([2048, 2048], { generator: g });
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  const t0 = performance.now();
  let result = a;
  for (let i = 0; i < 6; i++) {
    const next = await result.matmul(b); // ~0.3-1 s of native work each on 2 cores
    if (result !== a) result.dispose();
    result = next;
  }
  const elapsed = performance.now() - t0;
  clearInterval(timer);
  // A blocked loop would tick ~0 times; a free one ticks about elapsed/5 times.
  console.log(`native work ${elapsed.toFixed(0)} ms, timer ticks ${ticks} (ideal ${(elapsed / 5).toFixed(0)})`);
  expect(elapsed).toBeGreaterThan(100);
  expect(ticks).toBeGreaterThan(elapsed / 5 / 4);
  for (const t of [a, b, result]) t.dispose();
});
