// A bound on work in flight: at most `limit` tasks run at once, the rest wait in FIFO order
// (so the batch asked for first is decoded first, prefetched batches after it).
export class Limiter {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(readonly limit: number) {}

  /** Runs task when a slot is free. Aborting signal before it starts rejects with its reason. */
  async run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    signal?.throwIfAborted();
    if (this.running >= this.limit) {
      await new Promise<void>((resolve, reject) => {
        const start = (): void => {
          signal?.removeEventListener('abort', drop);
          resolve();
        };
        const drop = (): void => {
          const at = this.waiting.indexOf(start);
          if (at >= 0) this.waiting.splice(at, 1);
          reject(signal!.reason);
        };
        signal?.addEventListener('abort', drop, { once: true });
        this.waiting.push(start);
      });
    } else {
      this.running++;
    }
    // A slot is ours here: a finishing task hands its slot straight to the next waiter.
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
