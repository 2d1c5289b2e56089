// A model being trained, of any method: the native trainer (one handle type for every method)
// plus the method's views. The trainer owns all randomness of the run, the augmentation
// generator included, so its state() is the whole random state of a checkpoint.
import type { Communicator } from '../dist/communicator.js';
import { native } from '../native.js';
import type { Metrics, NativeTrainerOptions } from '../native-types.js';
import { cat, Generator, handleOf, scope, tensor, Tensor } from '../tensor.js';
import { familyOf, type TrainConfig } from './config.js';
import { commonOptions, methodOf, type MethodContext, type TrainMethod } from './methods/index.js';

export type { Metrics } from '../native-types.js';

/** Randomness injected into one step (tests); otherwise the trainer draws it. */
export interface StepInject {
  pgdNoise?: Tensor;
  perm?: Tensor;
  boxes?: Tensor;
  hardViewScale?: number;
}

export class TrainerModel {
  private constructor(
    readonly config: TrainConfig,
    readonly context: MethodContext,
    readonly method: TrainMethod,
    private handle: import('../native-types.js').TrainerHandle,
    /** The trainer's augmentation generator (a view of the native one, saved with the state). */
    readonly augmentGenerator: Generator,
  ) {}

  /**
   * `datasetSize`: training images (DeepCluster's bank); `viewSize`: side of the large views.
   * With a `communicator` the trainer is one rank of a data-parallel world: creating it is a
   * collective (rank 0's initial state everywhere), as is every step. `extra`: native options
   * over the config's (tests: MoCo's staticStep).
   */
  static async create(config: TrainConfig, context: MethodContext, communicator?: Communicator, extra: NativeTrainerOptions = {}): Promise<TrainerModel> {
    const method = methodOf(config.method);
    const options = { ...commonOptions(config, context), ...method.nativeOptions(config, context), ...extra, ...(communicator ? { communicator: communicator.handle } : {}) };
    const handle = await native().createTrainer(familyOf(config.method), options);
    return new TrainerModel(config, context, method, handle, Generator.fromHandle(handle.augmentGenerator()));
  }

  /** Whether observe() must see every batch once before epoch 0 (DeepCluster's bank). */
  get wantsInitPass(): boolean {
    return this.handle.describe().initPass;
  }

  /** uint8 [n, C, H, W] on the CPU -> on the device, 3 channels. */
  private async deviceImages(images: Tensor): Promise<Tensor> {
    const x = images.device === this.config.device ? images : await images.to({ device: this.config.device as 'cpu' });
    return x.shape[1] === 3 ? x : cat([x, x, x], 1);
  }

  private indicesOf(indices: Uint32Array): Tensor {
    return tensor(BigInt64Array.from(indices, (i) => BigInt(i)), [indices.length]);
  }

  /**
   * One training step on a batch of uint8 images and their dataset indices (the method's
   * views, then the native step). `hardViewScale` multiplies the hard-view weights; 0 makes
   * it a step of the base method.
   */
  async step(images: Tensor, indices: Uint32Array, lr: number, hardViewScale = 1): Promise<Metrics> {
    return scope(async () => {
      const views = await this.method.views(await this.deviceImages(images), this.config, this.context, this.augmentGenerator);
      return this.handle.step(views.map(handleOf), lr, { hardViewScale, indices: this.indicesOf(indices).handle });
    });
  }

  /** The no-grad look at a batch before training (fills DeepCluster's memory bank). */
  async observe(images: Tensor, indices: Uint32Array): Promise<void> {
    await scope(async () => {
      const views = await this.method.views(await this.deviceImages(images), this.config, this.context, this.augmentGenerator, true);
      await this.handle.observe(views.map(handleOf), { indices: this.indicesOf(indices).handle });
    });
  }

  /** At the start of an epoch: DeepCluster's k-means (its statistics come back); nothing for MoCo. */
  async beginEpoch(epoch: number, inject?: { initialCentroids?: Tensor[] }): Promise<Metrics> {
    return this.handle.beginEpoch(epoch, inject?.initialCentroids ? { initialCentroids: inject.initialCentroids.map(handleOf) } : undefined);
  }

  /** The native step on views given as they are, with optional injected randomness (tests). */
  async stepViews(views: Tensor[], lr: number, inject: StepInject & { indices?: Tensor } = {}): Promise<Metrics> {
    const h = Object.fromEntries(Object.entries(inject).map(([k, v]) => [k, typeof v === 'number' ? v : handleOf(v)]));
    return this.handle.step(views.map(handleOf), lr, h);
  }

  /** observe() on views given as they are (tests). */
  async observeViews(views: Tensor[], indices: Tensor): Promise<void> {
    await this.handle.observe(views.map(handleOf), { indices: handleOf(indices) });
  }

  /** Backbone features of uint8 images (eval mode): float [n, D] on the CPU. */
  async embed(images: Tensor): Promise<Tensor> {
    return scope(async () => {
      const x = await (await this.deviceImages(images)).to('float32');
      const f = new Tensor(await this.handle.embed((await x.mul(1 / 255)).handle));
      return f.device === 'cpu' ? f : f.to('cpu');
    });
  }

  /** Every tensor of the training state (weights, optimizer, method buffers, generators). Caller disposes. */
  async state(): Promise<Record<string, Tensor>> {
    return wrap(await this.handle.state());
  }

  async loadState(state: Record<string, Tensor>): Promise<void> {
    await this.handle.loadState(Object.fromEntries(Object.entries(state).map(([k, t]) => [k, handleOf(t)])));
  }

  /** The trained backbone with torchvision's names. Caller disposes. */
  async backboneState(): Promise<Record<string, Tensor>> {
    return wrap(await this.handle.backboneState());
  }

  dispose(): void {
    this.handle.dispose();
  }
}

function wrap(raw: Record<string, import('../native-types.js').TensorHandle>): Record<string, Tensor> {
  return Object.fromEntries(Object.entries(raw).map(([k, h]) => [k, new Tensor(h)]));
}
