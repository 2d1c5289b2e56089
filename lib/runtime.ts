// Process-wide facts and settings: versions, variant, threads, CUDA, the global seed.
import fs from 'node:fs';
import path from 'node:path';
import { addon, native, packageRoot } from './native.js';

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
};
