// A bound on work in flight: at most `limit` tasks run at once, the rest wait in FIFO order
// (so the batch asked for first is decoded first, prefetched batches after it).
//
// Waiting tasks may carry an AbortSignal. The limiter adds one 'abort' listener per signal,
// however many tasks wait on it (one listener per task exceeded Node's 10-listener warning
// threshold as soon as a batch of a large folder queued its decodes), and removes it when
// the last of those tasks starts or is dropped.
interface Waiter {
  start: () => void;
  drop: (reason: unknown) => void;
  signal?: AbortSignal;
}

interface Watch {
  waiters: number;
  onAbort: () => void;
}

export class Limiter {
  private running = 0;
  private readonly waiting: Waiter[] = [];
  private readonly watched = new Map<AbortSignal, Watch>();

  constructor(readonly limit: number) {}

  /** Runs task when a slot is free. Aborting signal before it starts rejects with its reason. */
  async run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    signal?.throwIfAborted();
    if (this.running >= this.limit) {
      await new Promise<void>((resolve, reject) => {
        this.waiting.push({ start: resolve, drop: reject, signal });
        if (signal) this.watch(signal);
      });
    } else {
      this.running++;
    }
    // A slot is ours here: a finishing task hands its slot straight to the next waiter.
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) {
        if (next.signal) this.unwatch(next.signal);
        next.start();
      } else {
        this.running--;
      }
    }
  }

  private watch(signal: AbortSignal): void {
    const w = this.watched.get(signal);
    if (w) {
      w.waiters++;
      return;
    }
    const onAbort = (): void => {
      this.watched.delete(signal);
      const dropped = this.waiting.filter((x) => x.signal === signal);
      for (let i = this.waiting.length - 1; i >= 0; i--) if (this.waiting[i].signal === signal) this.waiting.splice(i, 1);
      for (const x of dropped) x.drop(signal.reason);
    };
    this.watched.set(signal, { waiters: 1, onAbort });
    signal.addEventListener('abort', onAbort, { once: true });
  }

  private unwatch(signal: AbortSignal): void {
    const w = this.watched.get(signal);
    if (!w || --w.waiters > 0) return;
    this.watched.delete(signal);
    signal.removeEventListener('abort', w.onAbort);
  }
}
