// Tensors with explicit lifetimes. A Tensor owns native (CPU or GPU) memory that the garbage
// collector cannot see, so it is freed by dispose() or by the scope() it was made in; the
// native handle's finalizer is only a safety net.
import { AsyncLocalStorage } from 'node:async_hooks';
import { native } from './native.js';
import type { CreateOptions, DType, GeneratorHandle, TensorHandle, TypedArrayOf } from './native-types.js';

export type { DType } from './native-types.js';
/** 'cpu', 'cuda' (= 'cuda:0') or 'cuda:N'. */
export type Device = 'cpu' | 'cuda' | `cuda:${number}`;
export type TensorData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

/** A seeded random generator: the same seed gives the same numbers on every device. */
export class Generator {
  /** @internal */
  readonly handle: GeneratorHandle;
  constructor(seed: number) {
    this.handle = new (native().Generator)(seed);
  }
  /** @internal A Generator over an existing native generator (a trainer's own stream). */
  static fromHandle(handle: GeneratorHandle): Generator {
    const g = Object.create(Generator.prototype) as { handle: GeneratorHandle };
    g.handle = handle;
    return g as Generator;
  }
  seed(seed: number): void {
    this.handle.seed(seed);
  }
  /** The generator's full state, for checkpoints. */
  getState(): Uint8Array {
    return this.handle.getState();
  }
  setState(state: Uint8Array): void {
    this.handle.setState(state);
  }
}

export interface TensorOptions {
  dtype?: DType;
  device?: Device;
}
export interface RandomOptions extends TensorOptions {
  generator?: Generator;
}

// ---- scopes ------------------------------------------------------------------------------

interface Scope {
  tensors: Set<Tensor>;
}
// AsyncLocalStorage keeps each async call chain's scope its own, so two scopes awaiting at
// once never collect each other's tensors.
const scopes = new AsyncLocalStorage<Scope>();

function track(t: Tensor): void {
  scopes.getStore()?.tensors.add(t);
}

function collectTensors(value: unknown, out: Set<Tensor>, seen = new Set<unknown>()): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if (value instanceof Tensor) {
    out.add(value);
    return;
  }
  if (ArrayBuffer.isView(value)) return;
  const items = Array.isArray(value) ? value : value instanceof Map ? [...value.values()] : Object.values(value);
  for (const item of items) collectTensors(item, out, seen);
}

/**
 * Runs fn and disposes every Tensor created inside it, except those in its result (a
 * Tensor, or arrays/objects/Maps holding Tensors), which move to the enclosing scope.
 * Works across awaits (like tfjs' tidy, but async-safe).
 */
export async function scope<T>(fn: () => T | Promise<T>): Promise<T> {
  const own: Scope = { tensors: new Set() };
  const outer = scopes.getStore();
  let result: T;
  try {
    result = await scopes.run(own, fn);
  } catch (e) {
    for (const t of own.tensors) t.dispose();
    throw e;
  }
  const kept = new Set<Tensor>();
  collectTensors(result, kept);
  for (const t of own.tensors) {
    if (kept.has(t)) outer?.tensors.add(t);
    else t.dispose();
  }
  return result;
}

/** Takes t out of the scope it was made in: it lives until disposed by hand. */
export function keep<T extends Tensor>(t: T): T {
  scopes.getStore()?.tensors.delete(t);
  return t;
}

// ---- Tensor ------------------------------------------------------------------------------

type Operand = Tensor | number;
/**
 * The native handle of a Tensor; anything else passes through unchanged so the binding's
 * argument check reports what was actually given ("got 5", "got an object").
 */
export function handleOf(x: unknown): TensorHandle {
  return (x instanceof Tensor ? x.handle : x) as TensorHandle;
}
const h = handleOf;

export class Tensor {
  /** @internal The native handle; kernels and trainers pass it to the binding. */
  readonly handle: TensorHandle;

  /** @internal Tensors come from hexa functions, not from `new`. */
  constructor(handle: TensorHandle) {
    this.handle = handle;
    track(this);
  }

  get shape(): number[] {
    return this.handle.shape;
  }
  get dtype(): DType {
    return this.handle.dtype;
  }
  get device(): Device {
    return this.handle.device as Device;
  }
  get isDisposed(): boolean {
    return this.handle.isDisposed;
  }
  /** Number of elements. */
  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  /** Frees the native memory now (idempotent). Later use throws. */
  dispose(): void {
    this.handle.dispose();
  }

  /**
   * A copy of the values on the CPU, as a typed array (float16/bfloat16 as Float32Array,
   * bool as Uint8Array, int64 as BigInt64Array). The array owns its memory: no later op on
   * the tensor changes it.
   */
  async data(): Promise<TensorData> {
    return native().data(this.handle);
  }
  /** The single value of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new RangeError(`item: the tensor must have exactly 1 element, got shape [${this.shape}]`);
    const v = (await this.data())[0];
    return typeof v === 'bigint' ? Number(v) : v;
  }
  /** A copy on another device and/or with another dtype. */
  async to(target: Device | DType | TensorOptions): Promise<Tensor> {
    const opts: TensorOptions =
      typeof target === 'string' ? (isDevice(target) ? { device: target } : { dtype: target as DType }) : target;
    return new Tensor(await native().to(this.handle, opts));
  }
  async matmul(other: Tensor): Promise<Tensor> {
    return new Tensor(await native().matmul(this.handle, h(other)));
  }
  async add(other: Operand): Promise<Tensor> {
    return new Tensor(await native().add(this.handle, h(other)));
  }
  async sub(other: Operand): Promise<Tensor> {
    return new Tensor(await native().sub(this.handle, h(other)));
  }
  async mul(other: Operand): Promise<Tensor> {
    return new Tensor(await native().mul(this.handle, h(other)));
  }
  async sum(dim?: number | number[], keepdim?: boolean): Promise<Tensor> {
    return new Tensor(await native().sum(this.handle, dim, keepdim));
  }
  async mean(dim?: number | number[], keepdim?: boolean): Promise<Tensor> {
    return new Tensor(await native().mean(this.handle, dim, keepdim));
  }
  async argmax(dim?: number, keepdim?: boolean): Promise<Tensor> {
    return new Tensor(await native().argmax(this.handle, dim, keepdim));
  }
  /** Rows (or slices along dim) picked by an int64/int32 tensor of indices. */
  async index(dim: number, indices: Tensor): Promise<Tensor> {
    return new Tensor(await native().index(this.handle, dim, h(indices)));
  }
  /** A copy with a new shape (one entry may be -1). */
  async reshape(shape: number[]): Promise<Tensor> {
    return new Tensor(await native().reshape(this.handle, shape));
  }
  async clone(): Promise<Tensor> {
    return new Tensor(await native().clone(this.handle));
  }
  async sign(): Promise<Tensor> {
    return new Tensor(await native().sign(this.handle));
  }
  async clamp(min: number, max: number): Promise<Tensor> {
    return new Tensor(await native().clamp(this.handle, min, max));
  }
  /** x / max(‖x‖₂, eps) along dim (default 1), as torch.nn.functional.normalize. */
  async normalize(dim?: number, eps?: number): Promise<Tensor> {
    return new Tensor(await native().normalize(this.handle, dim, eps));
  }
  toString(): string {
    return this.isDisposed ? 'Tensor(disposed)' : `Tensor(shape=[${this.shape}], dtype=${this.dtype}, device=${this.device})`;
  }
}

function isDevice(s: string): s is Device {
  return s === 'cpu' || s === 'cuda' || s.startsWith('cuda:');
}

// ---- creation ----------------------------------------------------------------------------

/**
 * A tensor holding a copy of `data` (always a copy: async ops must never race the JS heap,
 * and the caller may reuse the array at once). The dtype follows the array type unless
 * given; a Uint16Array holds raw float16/bfloat16 bits and needs the dtype.
 */
export function tensor(data: TypedArrayOf, shape: number[], dtype?: DType): Tensor {
  return new Tensor(native().tensor(data, shape, dtype));
}

export async function zeros(shape: number[], options?: TensorOptions): Promise<Tensor> {
  return new Tensor(await native().zeros(shape, options as CreateOptions));
}

function randomOptions(options?: RandomOptions): CreateOptions | undefined {
  if (!options) return undefined;
  const { generator, ...rest } = options;
  return { ...rest, generator: generator?.handle };
}

/** Uniform [0, 1). With a generator, the numbers depend only on its seed (same on every device). */
export async function rand(shape: number[], options?: RandomOptions): Promise<Tensor> {
  return new Tensor(await native().rand(shape, randomOptions(options)));
}

/** Standard normal. */
export async function randn(shape: number[], options?: RandomOptions): Promise<Tensor> {
  return new Tensor(await native().randn(shape, randomOptions(options)));
}

export async function cat(tensors: Tensor[], dim = 0): Promise<Tensor> {
  if (!Array.isArray(tensors)) throw new TypeError(`cat: tensors must be an array of Tensors, got ${typeof tensors}`);
  return new Tensor(await native().cat(tensors.map(h), dim));
}

/** Native tensors of this JS environment alive now (not disposed, not collected): for leak checks. A worker thread counts its own. */
export function liveTensorCount(): number {
  return native().liveTensorCount();
}
