#!/usr/bin/env node
// Builds the addon from source with cmake-js (CMakeLists.txt is the one build description).
//   node scripts/build.mjs [--variant cpu|cuda] [--out DIR] [--rpath-up ../..]
// The CPU variant lands in build/Release, the CUDA variant in variants/cuda/build/Release;
// each gets a build-info.json beside the .node recording the LibTorch it was built against,
// which lib/native.ts checks before loading.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { bootstrap, describe, PACKAGE_ROOT, readRecord, resolve } from './libtorch.mjs';

const require = createRequire(import.meta.url);

/** The LibTorch to build `variant` against: the recorded one when it fits, else the search order. */
export function libtorchFor(variant) {
  const recorded = readRecord();
  if (recorded && (variant === 'cpu' || recorded.variant === 'cuda')) return recorded;
  const found = resolve({ variant });
  if (variant === 'cuda' && found.variant !== 'cuda') return describe(bootstrap('cuda'), 'bootstrap');
  return found;
}

export const VARIANT_DIRS = {
  cpu: { root: PACKAGE_ROOT, rpathUp: '../..' },
  cuda: { root: path.join(PACKAGE_ROOT, 'variants', 'cuda'), rpathUp: '../../../..' },
};

export function build({ variant = 'cpu', out, rpathUp, torch } = {}) {
  if (!VARIANT_DIRS[variant]) throw new Error(`--variant must be cpu or cuda, got ${variant}`);
  torch ??= libtorchFor(variant);
  if (variant === 'cuda' && torch.variant !== 'cuda') throw new Error(`the LibTorch at ${torch.root} has no CUDA`);
  out ??= path.join(VARIANT_DIRS[variant].root, 'build');
  rpathUp ??= VARIANT_DIRS[variant].rpathUp;
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
  const addonApi = require('node-addon-api').include_dir.replace(/^"|"$/g, '');
  const defs = {
    HEXA_VARIANT: variant,
    CMAKE_PREFIX_PATH: path.join(torch.root, 'share', 'cmake'),
    NODE_ADDON_API_DIR: path.resolve(PACKAGE_ROOT, addonApi),
    HEXA_RPATH_UP: rpathUp,
    CMAKE_BUILD_TYPE: 'Release',
  };
  if (variant === 'cuda') {
    defs.HEXA_NVIDIA_INCLUDE = torch.nvidiaIncludes.join(';');
    defs.HEXA_NVIDIA_LIB = torch.nvidiaLibs.join(';');
    const cudaHome = cudaToolkitRoot();
    defs.CMAKE_CUDA_COMPILER = path.join(cudaHome, 'bin', 'nvcc');
    defs.CUDA_TOOLKIT_ROOT_DIR = cudaHome; // LibTorch's cmake still uses the old FindCUDA
    defs.CUDAToolkit_ROOT = cudaHome;
  }
  const jobs = Number(process.env.HEXA_BUILD_JOBS) || Math.max(1, Math.min(os.cpus().length, Math.floor(os.totalmem() / 2 ** 31)));
  const args = [cmakeJs, 'compile', '--out', out, '--parallel', String(jobs), ...Object.entries(defs).map(([k, v]) => `--CD${k}=${v}`)];
  process.stderr.write(`hexa-torch: building the ${variant} addon against LibTorch ${torch.version} (${torch.root}) into ${out}\n`);
  const started = Date.now();
  const env = { ...process.env, CCACHE_SLOPPINESS: 'pch_defines,time_macros,include_file_mtime,include_file_ctime' };
  // Without an explicit list LibTorch's cmake try_run()s a GPU probe, which needs a GPU.
  if (variant === 'cuda') env.TORCH_CUDA_ARCH_LIST ??= '9.0+PTX';
  const r = spawnSync(process.execPath, args, { cwd: PACKAGE_ROOT, stdio: 'inherit', env });
  if (r.status !== 0) throw new Error(`cmake-js failed (exit ${r.status ?? r.signal}); see the compiler output above`);
  const release = path.join(out, 'Release');
  fs.writeFileSync(
    path.join(release, 'build-info.json'),
    JSON.stringify({ torch: torch.version, variant, rpathUp, builtAt: new Date().toISOString() }, null, 2) + '\n',
  );
  process.stderr.write(`hexa-torch: built ${path.join(release, 'hexa_torch.node')} in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  return path.join(release, 'hexa_torch.node');
}

/** CUDA_HOME, CUDA_PATH, /usr/local/cuda, or the toolkit of the nvcc on PATH (through wrappers). */
function cudaToolkitRoot() {
  for (const dir of [process.env.CUDA_HOME, process.env.CUDA_PATH, '/usr/local/cuda']) {
    if (dir && fs.existsSync(path.join(dir, 'bin', 'nvcc'))) return dir;
  }
  const nvcc = which('nvcc');
  if (!nvcc) throw new Error('the CUDA variant needs nvcc: install the CUDA toolkit or set CUDA_HOME');
  return path.dirname(path.dirname(fs.realpathSync(nvcc)));
}

function which(cmd) {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const p = path.join(dir, cmd);
    if (dir && fs.existsSync(p)) return p;
  }
  return null;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { variant: { type: 'string', default: 'cpu' }, out: { type: 'string' }, 'rpath-up': { type: 'string' } } });
  try {
    build({ variant: values.variant, out: values.out, rpathUp: values['rpath-up'] });
  } catch (e) {
    process.stderr.write(`hexa-torch: ${e.message}\n`);
    process.exit(1);
  }
}
