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
}

type H = TensorHandle;

export interface NativeBinding {
  Generator: new (seed: number) => GeneratorHandle;
  TensorHandle: Function;

  info(): NativeInfo;
  manualSeed(seed: number): void;
  setNumThreads(n: number): void;
  liveTensorCount(): number;
  cudaIsBuilt(): boolean;
  cudaIsAvailable(): boolean;
  cudaDeviceCount(): number;

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

  // losses and clustering (native/binding/kernels_losses.cpp)
  infoNCE(q: H, k: H, queue: H, options: { temperature?: number; targets?: H; grad?: boolean; out?: H }): Promise<{ loss: H; accuracy: number; gradQ?: H }>;
  clusterCE(z: H, prototypes: H, targets: H, options: { temperature?: number; grad?: boolean; out?: H }): Promise<{ loss: H; accuracy: number; gradZ?: H }>;
  kmeansAssign(x: H, centroids: H, options: { chunkSize?: number; out?: { index: H; score: H } }): Promise<{ index: H; score: H }>;
  kmeansUpdateCentroids(x: H, assignment: H, k: number, options: { previous: H; out?: H }): Promise<{ centroids: H; counts: H }>;
}
