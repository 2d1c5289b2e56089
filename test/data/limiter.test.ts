import { describe, expect, it } from 'vitest';
import { Limiter } from '../../lib/data/limiter.js';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Limiter (bounded decodes in flight)', () => {
  it('runs at most `limit` tasks at once, starting them in the order asked', async () => {
    const limiter = new Limiter(3);
    let running = 0;
    let most = 0;
    const started: number[] = [];
    await Promise.all(
      Array.from({ length: 20 }, (_, k) =>
        limiter.run(async () => {
          started.push(k);
          most = Math.max(most, ++running);
          await tick((k * 7) % 5);
          running--;
          return k;
        }),
      ),
    );
    expect(most).toBe(3);
    expect(started).toEqual([...Array(20).keys()]);
  });

  it('passes results and errors through and frees the slot either way', async () => {
    const limiter = new Limiter(1);
    await expect(limiter.run(async () => { throw new Error('bad file'); })).rejects.toThrow('bad file');
    await expect(limiter.run(async () => 42)).resolves.toBe(42);
  });

  it('drops waiting tasks whose signal aborts, without running them', async () => {
    const limiter = new Limiter(1);
    const controller = new AbortController();
    const ran: number[] = [];
    const first = limiter.run(async () => { await tick(20); ran.push(0); });
    const dropped = limiter.run(async () => { ran.push(1); }, controller.signal);
    const after = limiter.run(async () => { ran.push(2); });
    controller.abort(new Error('epoch stopped'));
    await expect(dropped).rejects.toThrow('epoch stopped');
    await Promise.all([first, after]);
    expect(ran).toEqual([0, 2]);
    await expect(limiter.run(async () => 1, controller.signal)).rejects.toThrow('epoch stopped');
  });
});
