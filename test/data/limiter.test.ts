import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { Limiter } from '../../lib/data/limiter.js';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A promise and the function that resolves it. */
function gated(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

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

  it('holds one abort listener per signal however many tasks wait on it (no MaxListenersExceededWarning)', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const limiter = new Limiter(1);
      const controller = new AbortController();
      const gate = gated();
      const first = limiter.run(() => gate.promise, controller.signal);
      const waiting = Array.from({ length: 50 }, (_, k) => limiter.run(async () => k, controller.signal));
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
      gate.resolve();
      await first;
      expect(await Promise.all(waiting)).toEqual([...Array(50).keys()]);
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0); // removed when the last one started
      // Aborting drops every task still waiting on that signal, and only those.
      const other = new AbortController();
      const gate2 = gated();
      const running = limiter.run(() => gate2.promise);
      const dropped = Array.from({ length: 20 }, () => limiter.run(async () => 'ran', controller.signal));
      const kept = limiter.run(async () => 'kept', other.signal);
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
      controller.abort(new Error('stop'));
      for (const d of dropped) await expect(d).rejects.toThrow('stop');
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
      gate2.resolve();
      await running;
      await expect(kept).resolves.toBe('kept');
      expect(getEventListeners(other.signal, 'abort')).toHaveLength(0);
      await new Promise((r) => setImmediate(r)); // warnings are emitted on a later tick
      expect(warnings).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });
});
