// Feeds a trainer: walks a dataset one epoch at a time in a seeded order, in batches, with
// the next few batches loading while the current one is used.
import type { ImageBatch, ImageDataset } from './index.js';
import { epochOrder } from './shuffle.js';
import { toTensor, type TensorBatch } from './to-tensor.js';
import { checkBoolean, checkInteger, checkOptions, typeError } from './validate.js';

export interface BatchLoaderOptions {
  /** Images per batch (the last batch of an epoch may be smaller unless dropLast). Required. */
  batchSize: number;
  /** Visit the dataset in a seeded random order (true, the default) or in index order. */
  shuffle?: boolean;
  /** 32-bit unsigned seed of the order; epoch e's order depends only on (seed, e). Default 0. */
  seed?: number;
  /** Leave out the last batch of an epoch when it would be smaller than batchSize. Default false. */
  dropLast?: boolean;
  /** Batches loading ahead of the one being used; 0 loads each on demand. Default 2. */
  prefetch?: number;
  /**
   * Data parallel (PyTorch's DistributedSampler): this process is `rank` of `worldSize`. Every
   * rank walks the same seeded order in global batches of batchSize × worldSize and takes its
   * own disjoint slice of batchSize; an epoch has as many steps on every rank. Without
   * dropLast the last global batch is split evenly, padded with images from the start of the
   * epoch's order (as DistributedSampler pads). Default: one process.
   */
  shard?: { rank: number; worldSize: number };
}

export interface EpochOptions {
  /** The first step to load, for resuming inside an epoch: 0 (default) .. stepsPerEpoch. */
  startStep?: number;
  /** Stops the epoch: loads not yet started are dropped and the waiting next() rejects. */
  signal?: AbortSignal;
}

/** Where a batch sits in the run: the step is the batch's number within its epoch. */
interface Position {
  epoch: number;
  step: number;
  /** The dataset indices of the batch's images, in batch order. */
  indices: Uint32Array;
}
export type LoaderBatch = ImageBatch & Position;
export type TensorLoaderBatch = TensorBatch & Position;

const UINT32_MAX = 0xffffffff;

/**
 * Iterates a dataset epoch by epoch:
 *
 * ```ts
 * const loader = new BatchLoader(dataset, { batchSize: 256, seed: 42 });
 * for (let epoch = first; epoch < epochs; epoch++)
 *   for await (const b of loader.tensors(epoch, { startStep: epoch === first ? step : 0 })) {
 *     // b.images uint8 [n, C, H, W], b.labels int64 [n]: valid until the next batch is asked for
 *   }
 * ```
 *
 * Everything about an epoch is a pure function of (dataset size, options, epoch): a resumed
 * run that checkpointed (seed, epoch, step) gets exactly the batches it would have had.
 * Prefetching never changes the order: batches come out in step order whatever order their
 * loads finish in.
 */
export class BatchLoader {
  readonly dataset: ImageDataset;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  readonly prefetch: number;
  readonly rank: number;
  readonly worldSize: number;

  private closed = false;
  private readonly running = new Set<AbortController>();
  private readonly handedOut = new Set<TensorBatch>();

  constructor(dataset: ImageDataset, options: BatchLoaderOptions) {
    const where = 'BatchLoader';
    if (dataset === null || typeof dataset !== 'object' || typeof dataset.batch !== 'function' || typeof dataset.size !== 'number') {
      throw typeError(where, 'dataset', 'an ImageDataset (with size and batch())', dataset);
    }
    if (options === undefined) throw typeError(where, 'options', 'an options object with batchSize', options);
    const o = checkOptions<BatchLoaderOptions>(where, 'options', options);
    this.dataset = dataset;
    this.batchSize = checkInteger(where, 'options.batchSize', o.batchSize, 1);
    this.shuffle = o.shuffle === undefined ? true : checkBoolean(where, 'options.shuffle', o.shuffle);
    this.seed = o.seed === undefined ? 0 : checkInteger(where, 'options.seed', o.seed, 0, UINT32_MAX);
    this.dropLast = o.dropLast === undefined ? false : checkBoolean(where, 'options.dropLast', o.dropLast);
    this.prefetch = o.prefetch === undefined ? 2 : checkInteger(where, 'options.prefetch', o.prefetch, 0, 1024);
    const shard = o.shard === undefined ? { rank: 0, worldSize: 1 } : checkOptions<{ rank: number; worldSize: number }>(where, 'options.shard', o.shard);
    this.worldSize = checkInteger(where, 'options.shard.worldSize', shard.worldSize, 1, 1 << 20);
    this.rank = checkInteger(where, 'options.shard.rank', shard.rank, 0, this.worldSize - 1);
  }

  /** Batches per epoch. */
  get stepsPerEpoch(): number {
    const n = this.dataset.size;
    const global = this.batchSize * this.worldSize;
    return this.dropLast ? Math.floor(n / global) : Math.ceil(n / global);
  }

  /** The order in which epoch `epoch` visits the dataset (a permutation of [0, size)). */
  order(epoch: number): Uint32Array {
    checkInteger('BatchLoader.order', 'epoch', epoch, 0, UINT32_MAX);
    if (this.shuffle) return epochOrder(this.dataset.size, this.seed, epoch);
    return Uint32Array.from({ length: this.dataset.size }, (_, i) => i);
  }

  /** The dataset indices of batch `step` of epoch `epoch`. */
  indicesOf(epoch: number, step: number): Uint32Array {
    checkInteger('BatchLoader.indicesOf', 'step', step, 0, this.stepsPerEpoch - 1);
    return this.slice(this.order(epoch), step);
  }

  /**
   * The batches of one epoch on the host (images Uint8Array [n, C, H, W], labels Int32Array),
   * from options.startStep on. Leaving the loop early (break, return, throw) stops the
   * prefetching; loads already running finish and are dropped.
   */
  batches(epoch: number, options?: EpochOptions): AsyncGenerator<LoaderBatch, void, undefined> {
    const { startStep, signal } = this.checkEpoch('BatchLoader.batches', epoch, options);
    return this.run(epoch, startStep, signal);
  }

  /**
   * The batches of one epoch as CPU Tensors (images uint8 [n, C, H, W], labels int64 [n]).
   * The loader owns them: a batch's tensors are disposed when the next batch is asked for,
   * when the loop ends or stops early, and by close(). Clone what must outlive that.
   */
  tensors(epoch: number, options?: EpochOptions): AsyncGenerator<TensorLoaderBatch, void, undefined> {
    const { startStep, signal } = this.checkEpoch('BatchLoader.tensors', epoch, options);
    return this.runTensors(epoch, startStep, signal);
  }

  /**
   * Stops every running epoch (their waiting next() rejects with an AbortError, later ones
   * end the loop), disposes every batch of tensors still handed out, and refuses new epochs.
   */
  close(): void {
    this.closed = true;
    for (const c of this.running) c.abort(new DOMException('BatchLoader was closed', 'AbortError'));
    for (const t of [...this.handedOut]) this.release(t);
  }

  private checkEpoch(where: string, epoch: number, options: EpochOptions | undefined): { startStep: number; signal?: AbortSignal } {
    if (this.closed) throw new Error(`${where}: the loader was closed`);
    checkInteger(where, 'epoch', epoch, 0, UINT32_MAX);
    const o = checkOptions<EpochOptions>(where, 'options', options);
    const startStep = o.startStep === undefined ? 0 : checkInteger(where, 'options.startStep', o.startStep, 0, this.stepsPerEpoch);
    if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw typeError(where, 'options.signal', 'an AbortSignal', o.signal);
    return { startStep, signal: o.signal };
  }

  private slice(order: Uint32Array, step: number): Uint32Array {
    const global = this.batchSize * this.worldSize;
    const start = step * global;
    if (this.worldSize === 1) return order.slice(start, Math.min(start + this.batchSize, order.length));
    const left = order.length - start;
    if (left >= global) return order.slice(start + this.rank * this.batchSize, start + (this.rank + 1) * this.batchSize);
    // The last, partial global batch (no dropLast): ceil(left / worldSize) per rank, the
    // shortfall taken from the start of the order.
    const per = Math.ceil(left / this.worldSize);
    const out = new Uint32Array(per);
    for (let i = 0; i < per; i++) out[i] = order[(start + this.rank * per + i) % order.length];
    return out;
  }

  private async *run(epoch: number, startStep: number, signal: AbortSignal | undefined): AsyncGenerator<LoaderBatch, void, undefined> {
    const controller = new AbortController();
    const stop = (): void => controller.abort(signal?.reason);
    signal?.addEventListener('abort', stop, { once: true });
    this.running.add(controller);
    const order = this.order(epoch);
    const steps = this.stepsPerEpoch;
    const loading: Array<{ indices: Uint32Array; batch: Promise<ImageBatch> }> = [];
    let nextToLoad = startStep;
    const load = (): void => {
      const indices = this.slice(order, nextToLoad++);
      // new Promise(...) also turns a dataset's synchronous throw into a rejection.
      const batch = new Promise<ImageBatch>((resolve) => resolve(this.dataset.batch(indices, { signal: controller.signal })));
      // A prefetched load may fail while an earlier batch is awaited: mark it handled now, the
      // error still reaches the consumer when its turn comes.
      batch.catch(() => {});
      loading.push({ indices, batch });
    };
    try {
      if (signal?.aborted) stop();
      for (let step = startStep; step < steps; step++) {
        if (this.closed) return;
        controller.signal.throwIfAborted();
        while (nextToLoad < steps && nextToLoad <= step + this.prefetch) load();
        const { indices, batch } = loading.shift()!;
        const loaded = await batch;
        controller.signal.throwIfAborted();
        yield { ...loaded, epoch, step, indices };
      }
    } finally {
      controller.abort(new DOMException('the epoch stopped', 'AbortError')); // drops queued loads
      signal?.removeEventListener('abort', stop);
      this.running.delete(controller);
    }
  }

  private async *runTensors(epoch: number, startStep: number, signal: AbortSignal | undefined): AsyncGenerator<TensorLoaderBatch, void, undefined> {
    let current: TensorLoaderBatch | null = null;
    try {
      for await (const b of this.run(epoch, startStep, signal)) {
        if (current) this.release(current);
        current = null;
        const t = toTensor(b, { keep: true });
        current = { ...t, epoch: b.epoch, step: b.step, indices: b.indices };
        this.handedOut.add(current);
        yield current;
      }
    } finally {
      if (current) this.release(current);
    }
  }

  private release(t: TensorBatch): void {
    // The batch object handed out is the key (spreading copied the Tensor references only).
    this.handedOut.delete(t);
    t.images.dispose();
    t.labels.dispose();
  }
}
