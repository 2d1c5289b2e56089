// The shape of the raw binding (native/binding/addon.cpp lists the same names). Only
// lib/ uses it; users get the typed wrappers in tensor.ts, kernels/ and the rest.

/** A native tensor handle (type-tagged ObjectWrap); lib/tensor.ts wraps it. */
export interface TensorHandle {
  readonly shape: number[];
  readonly dtype: DType;
  readonly device: string;
  readonly isDisposed: boolean;
  dispose(): void;
}

/** A seeded random generator (CPU; numbers for CUDA tensors are drawn on the CPU). */
export interface GeneratorHandle {
  seed(seed: number): void;
  getState(): Uint8Array;
  setState(state: Uint8Array): void;
}

export type DType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int32' | 'int64' | 'uint8' | 'bool';
export type TypedArrayOf = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array;

export interface CreateOptions {
  dtype?: DType;
  device?: string;
  generator?: GeneratorHandle;
}

export interface NativeInfo {
  builtAgainst: string;
  variant: 'cpu' | 'cuda';
  threads: number;
  interopThreads: number;
  devices: Array<{ device: string; name?: string; memoryBytes?: number; capability?: string }>;
  cpu: CpuFeatures;
}

/** What this CPU (and its OS) can execute (see hexa.info().cpu). */
export interface CpuFeatures {
  /** The build's architecture: 'x86_64', 'aarch64', ... */
  arch: string;
  /** x86-64 extensions (false on other architectures). */
  avx2: boolean;
  avx512f: boolean;
  avx512bf16: boolean;
  amxBf16: boolean;
  /**
   * Whether bfloat16 arithmetic is native (x86-64: AVX512-BF16 or AMX). Without it
   * `precision: 'bf16'` runs emulated, far slower than 'fp32'. null: not known (other architectures).
   */
  nativeBf16: boolean | null;
}

type H = TensorHandle;

/** Per-sample augmentation parameters from sampleAugment (CPU tensors). */
export interface AugmentParamsHandles {
  crop: H;
  flip: H;
  jitter: H;
  gray: H;
  sigma: H;
}

/** Scalars of a trainer step or epoch, by name (each method has its own: loss, lossClean, ...). */
export type Metrics = Record<string, number>;

/** Randomness a test injects into one step (otherwise drawn from the trainer's generator). */
export interface StepInject {
  indices?: H;
  hardViewScale?: number;
  pgdNoise?: H;
  perm?: H;
  boxes?: H;
  keyShuffle?: H;
}

/** A native trainer of any method (native/train/trainer.h), made by createTrainer. */
export interface TrainerHandle {
  step(views: H[], lr: number, options?: StepInject): Promise<Metrics>;
  observe(views: H[], options: { indices: H }): Promise<void>;
  beginEpoch(epoch: number, options?: { initialCentroids?: H[] }): Promise<Metrics>;
  embed(images: H): Promise<H>;
  backboneState(): Promise<Record<string, H>>;
  state(): Promise<Record<string, H>>;
  loadState(state: Record<string, H>): Promise<void>;
  describe(): { largeViews: number; smallViews: number; initPass: boolean };
  augmentGenerator(): GeneratorHandle;
  dispose(): void;
}

/** Options every method's trainer reads (validated natively; the method files build them). */
export interface NativeTrainerOptions {
  arch?: string;
  width?: number;
  cifarStem?: boolean;
  channelsLast?: boolean;
  precision?: 'fp32' | 'bf16' | 'fp16';
  outDim?: number;
  headHidden?: number;
  mean?: number[];
  std?: number[];
  optimizer?: 'sgd' | 'lars';
  sgdMomentum?: number;
  weightDecay?: number;
  trustCoefficient?: number;
  larsClip?: boolean;
  larsExcludeBiasAndNorm?: boolean;
  seed?: number;
  device?: string;
  adversarial?: false | { enabled?: boolean; norm?: 'linf' | 'l2'; eps?: number; stepSize?: number; steps?: number; randomStart?: boolean; weight?: number; auxBN?: boolean };
  cutmix?: false | { enabled?: boolean; alpha?: number; weight?: number };
  // MoCo
  queueSize?: number;
  temperature?: number;
  keyMomentum?: number;
  // DeepCluster
  datasetSize?: number;
  prototypes?: number[];
  kmeansIterations?: number;
  smallCrops?: number;
  initPass?: boolean;
  /** MoCo, data parallel: shuffle BN for the key encoder (default on). */
  shuffleBN?: boolean;
  /** MoCo on CUDA, one process: capture the step in a CUDA graph (native/train/cuda_graph_step.h). */
  cudaGraph?: boolean;
  /** MoCo: the graph-safe step without capture (any device; what the tests compare with the default step). */
  staticStep?: boolean;
  /** Data parallel: the communicator of this rank (connectProcessGroup). */
  communicator?: CommunicatorHandle;
}

/** An opaque communicator (native/binding/dist_ops.cpp). */
export interface CommunicatorHandle {
  readonly rank: number;
  readonly worldSize: number;
  readonly backend: 'gloo' | 'nccl';
}

/** The CPU caching allocator's counters (see hexa.cpu.cacheStats). */
export interface CpuCacheStats {
  /** False when HEXA_TORCH_NO_CPU_CACHING=1 left c10's own allocator in place (all counters 0). */
  enabled: boolean;
  /** Bytes of freed large blocks kept for reuse. */
  cachedBytes: number;
  /** Bytes of large blocks handed out and not yet freed. */
  inUseBytes: number;
  /** The most idle bytes kept (default: a quarter of physical memory, at most 8 GiB). */
  limitBytes: number;
  /** Large allocations served from the cache / needing fresh memory. */
  hits: number;
  misses: number;
}

/** One op recorded by LibTorch's profiler (see hexa.profiler). */
export interface ProfiledOp {
  name: string;
  startUs: number;
  endUs: number;
  thread: number;
}

export interface NativeBinding {
  Generator: new (seed: number) => GeneratorHandle;
  TensorHandle: Function;

  info(): NativeInfo;
  manualSeed(seed: number): void;
  setNumThreads(n: number): void;
  liveTensorCount(): number;
  cpuCacheStats(): CpuCacheStats;
  cpuEmptyCache(): Promise<void>;
  cpuSetCacheLimit(bytes: number): void;
  profilerStart(): Promise<void>;
  profilerStop(): Promise<ProfiledOp[]>;
  cudaIsBuilt(): boolean;
  cudaIsAvailable(): boolean;
  cudaDeviceCount(): number;
  cudaSynchronize(): Promise<void>;
  allowTF32(): { matmul: boolean; cudnn: boolean };
  setAllowTF32(allow: boolean | { matmul?: boolean; cudnn?: boolean }): void;
  cudnnDeterministic(): boolean;
  setCudnnDeterministic(on: boolean): void;

  tensor(data: TypedArrayOf, shape: number[], dtype?: DType): H;
  zeros(shape: number[], options?: CreateOptions): Promise<H>;
  rand(shape: number[], options?: CreateOptions): Promise<H>;
  randn(shape: number[], options?: CreateOptions): Promise<H>;
  data(t: H): Promise<Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array>;
  to(t: H, options: { device?: string; dtype?: DType }): Promise<H>;
  matmul(a: H, b: H): Promise<H>;
  add(a: H, b: H | number): Promise<H>;
  sub(a: H, b: H | number): Promise<H>;
  mul(a: H, b: H | number): Promise<H>;
  sum(t: H, dim?: number | number[], keepdim?: boolean): Promise<H>;
  mean(t: H, dim?: number | number[], keepdim?: boolean): Promise<H>;
  argmax(t: H, dim?: number, keepdim?: boolean): Promise<H>;
  cat(ts: H[], dim?: number): Promise<H>;
  index(t: H, dim: number, indices: H): Promise<H>;
  reshape(t: H, shape: number[]): Promise<H>;
  clone(t: H): Promise<H>;
  sign(t: H): Promise<H>;
  clamp(t: H, min: number, max: number): Promise<H>;
  normalize(t: H, dim?: number, eps?: number): Promise<H>;

  sampleAugment(n: number, height: number, width: number, options?: Record<string, number>, generator?: GeneratorHandle): Promise<AugmentParamsHandles>;
  applyAugment(images: H, params: AugmentParamsHandles, outHeight: number, outWidth: number): Promise<H>;
  createTrainer(method: 'moco' | 'dcluster', options: NativeTrainerOptions): Promise<TrainerHandle>;
  // ---- data-parallel training (native/binding/dist_ops.cpp) ----
  distBackends(): { gloo: boolean; nccl: boolean; glooMissing: string; ncclMissing: string };
  connectProcessGroup(options: { backend: 'gloo' | 'nccl'; masterAddr: string; masterPort: number; rank: number; worldSize: number; timeoutMs?: number; cudaDevice?: number }): Promise<CommunicatorHandle>;
  communicatorAllReduce(c: CommunicatorHandle, t: H): Promise<H>;
  communicatorBroadcast(c: CommunicatorHandle, t: H, root: number): Promise<H>;
  communicatorBarrier(c: CommunicatorHandle): Promise<void>;
  communicatorClose(c: CommunicatorHandle): Promise<void>;
  sphericalKmeans(x: H, options: { k: number; iterations?: number; splitDelta?: number; initial?: H; generator?: GeneratorHandle }): Promise<{ centroids: H; assignment: H; counts: H; reseeded: number }>;
  normalizedMutualInformation(a: H, b: H): Promise<number>;
  knnPredict(bank: H, bankLabels: H, queries: H, options: { k?: number; temperature?: number; classes: number; chunk?: number }): Promise<H>;
  // ---- evaluation (native/binding/eval_ops.cpp) ----
  trainLinearClassifier(features: H, labels: H, options: NativeLinearProbeOptions): Promise<{ weight: H; bias: H }>;
  classifierAccuracy(features: H, labels: H, weight: H, bias: H): Promise<{ top1: number; top5: number; rows: number }>;
  backboneFeatures(state: Record<string, H>, images: H, options: NativeBackboneSpec & { batchSize?: number }): Promise<H>;
  fineTune(state: Record<string, H>, images: H, labels: H, options: NativeBackboneSpec & NativeFineTuneOptions): Promise<{ state: Record<string, H>; meanLoss: number }>;
  // ---- hard views and the momentum encoder (native/binding/kernels_hard_views.cpp) ----
  pgdStep(xAdv: H, xClean: H, grad: H, options: NativePgdStepOptions): Promise<H | undefined>;
  pgdInit(xClean: H, options: NativePgdInitOptions): Promise<H | undefined>;
  sampleCutmix(n: number, h: number, w: number, options?: { alpha?: number; generator?: GeneratorHandle }): Promise<{ boxes: H; perm: H; lambda: H }>;
  cutmix(x: H, options: { perm: H; boxes: H; out?: H; inplace?: boolean }): Promise<H | undefined>;
  cutmixTargets(lambda: H, perm: H, numColumns: number, options?: { columns?: H }): Promise<H>;
  enqueue(queue: H, keys: H, ptr: number): Promise<number>;
  momentumUpdate(target: H[], source: H[], m: number): Promise<void>;
  copyBuffers(target: H[], source: H[]): Promise<void>;
  // ---- end hard views ----
  // losses and clustering (native/binding/kernels_losses.cpp)
  infoNCE(q: H, k: H, queue: H, options: { temperature?: number; targets?: H; grad?: boolean; out?: H }): Promise<{ loss: H; accuracy: number; gradQ?: H }>;
  clusterCE(z: H, prototypes: H, targets: H, options: { temperature?: number; grad?: boolean; out?: H }): Promise<{ loss: H; accuracy: number; gradZ?: H }>;
  kmeansAssign(x: H, centroids: H, options: { chunkSize?: number; out?: { index: H; score: H } }): Promise<{ index: H; score: H }>;
  kmeansUpdateCentroids(x: H, assignment: H, k: number, options: { previous: H; out?: H }): Promise<{ centroids: H; counts: H }>;
}

export interface NativePgdStepOptions {
  eps: number;
  stepSize: number;
  norm?: 'linf' | 'l2';
  min?: number;
  max?: number;
  out?: H;
  inplace?: boolean;
}

export interface NativePgdInitOptions {
  eps: number;
  norm?: 'linf' | 'l2';
  min?: number;
  max?: number;
  generator?: GeneratorHandle;
  out?: H;
}

export interface NativeLinearProbeOptions {
  classes: number;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  weightDecay?: number;
  momentum?: number;
  seed?: number;
}

/** A ResNet backbone: architecture, base width, stem and input normalisation (float Tensors [3]). */
export interface NativeBackboneSpec {
  arch: 'resnet18' | 'resnet50';
  width: number;
  cifarStem: boolean;
  mean?: H;
  std?: H;
}

export interface NativeFineTuneOptions {
  classes: number;
  steps: number;
  firstStep?: number;
  batchSize?: number;
  lrTrunk: number;
  lrHead: number;
  weightDecay?: number;
  momentum?: number;
  scaleMin?: number;
  seed?: number;
}
