// Process-wide facts and settings: versions, variant, threads, CUDA, the global seed.
import fs from 'node:fs';
import path from 'node:path';
import { addon, native, packageRoot } from './native.js';
import type { CpuCacheStats, CpuFeatures, ProfiledOp } from './native-types.js';

export type { CpuCacheStats, CpuFeatures, ProfiledOp };

export interface Info {
  /** hexa-torch's own version. */
  version: string;
  /** 'cpu' or 'cuda': which binary is loaded. */
  variant: 'cpu' | 'cuda';
  libtorch: { version: string; builtAgainst: string; source: string; root: string };
  binary: string;
  threads: number;
  interopThreads: number;
  devices: Array<{ device: string; name?: string; memoryBytes?: number; capability?: string }>;
  /** What the CPU can execute: whether bfloat16 is native, and the vector extensions that decide it. */
  cpu: CpuFeatures;
  node: string;
}

export function info(): Info {
  const a = addon();
  const n = a.binding.info();
  return {
    version: (JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version,
    variant: n.variant,
    libtorch: { version: a.libtorch.version, builtAgainst: n.builtAgainst, source: a.libtorch.source, root: a.libtorch.root },
    binary: a.path,
    threads: n.threads,
    interopThreads: n.interopThreads,
    devices: n.devices,
    cpu: n.cpu,
    node: process.version,
  };
}

/** Seeds LibTorch's default generators (CPU and every CUDA device), as torch.manual_seed. */
export function manualSeed(seed: number): void {
  native().manualSeed(seed);
}

/** LibTorch's intra-op thread count (at::set_num_threads). */
export function setNumThreads(threads: number): void {
  native().setNumThreads(threads);
}

export const cuda = {
  /** Whether the loaded binary was built with CUDA kernels. */
  isBuilt: (): boolean => native().cudaIsBuilt(),
  /** Whether a CUDA device can be used now (built with CUDA, a driver and a GPU present). */
  isAvailable: (): boolean => native().cudaIsAvailable(),
  deviceCount: (): number => native().cudaDeviceCount(),
  /**
   * Waits, off the event loop, until all queued CUDA work has finished (torch.cuda.synchronize).
   * hexa-torch's ops resolve once their GPU work is queued, so time GPU work around this.
   */
  synchronize: (): Promise<void> => native().cudaSynchronize(),
  /**
   * Whether float32 matrix products (cuBLAS) and convolutions (cuDNN) may use TF32 tensor
   * cores (about 1e-3 relative error, much faster): LibTorch's defaults are matmul off, cuDNN on,
   * as torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32.
   */
  allowTF32: (): { matmul: boolean; cudnn: boolean } => native().allowTF32(),
  /** Sets both TF32 switches, or the ones named (process-wide); false gives full float32 precision on the GPU. */
  setAllowTF32: (allow: boolean | { matmul?: boolean; cudnn?: boolean }): void => native().setAllowTF32(allow),
  /**
   * Whether cuDNN picks only algorithms that give the same bits on every run
   * (torch.backends.cudnn.deterministic; LibTorch's default: off, since some backward
   * convolutions add with atomics in whatever order the GPU schedules them).
   */
  cudnnDeterministic: (): boolean => native().cudnnDeterministic(),
  /** Sets it (process-wide): for comparing GPU runs bit for bit, at some cost in speed. */
  setCudnnDeterministic: (on: boolean): void => native().setCudnnDeterministic(on),
};

/**
 * The CPU caching allocator: tensors of 64 KiB and more are served from freed blocks of the same
 * size class instead of fresh (page-faulted) memory, as PyTorch's CUDA caching allocator does on
 * the GPU. Nothing to set up; these are for inspecting and bounding it. HEXA_TORCH_NO_CPU_CACHING=1
 * in the environment of the process (read when the addon loads) leaves LibTorch's own allocator
 * in place, for telling a memory fault of the cache from one elsewhere.
 */
export const cpu = {
  /** Counters of the cache. */
  cacheStats: (): CpuCacheStats => native().cpuCacheStats(),
  /** Frees every idle cached block, after the ops queued before it (torch.cuda.empty_cache for the CPU). */
  emptyCache: (): Promise<void> => native().cpuEmptyCache(),
  /** The most idle bytes kept; 0 turns caching off (freed blocks go straight back to the system). */
  setCacheLimit: (bytes: number): void => native().cpuSetCacheLimit(bytes),
};

/**
 * LibTorch's profiler (the engine behind torch.profiler) over the ops queued between start()
 * and stop(): for comparing our ops with a PyTorch program's (benchmarks/train/profile.ts).
 */
export const profiler = {
  start: (): Promise<void> => native().profilerStart(),
  /** Every op recorded; ops nest by interval (an op's self time excludes the ops inside it). */
  stop: (): Promise<ProfiledOp[]> => native().profilerStop(),
};
