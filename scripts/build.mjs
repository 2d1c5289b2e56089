#!/usr/bin/env node
// Builds the addon from source with cmake-js (CMakeLists.txt is the one build description).
//   node scripts/build.mjs [--variant cpu|cuda|auto]
// cmake-js works in the variant's build-cmake/ tree (kept out of build/, which node-gyp
// deletes on every `node-gyp rebuild`); the finished binary is copied to the variant's
// build/Release (the CPU variant: build/Release, the CUDA variant: variants/cuda/build/Release),
// the folder node-gyp and node-gyp-build use, with a build-info.json beside it recording the
// LibTorch it was built against, which lib/native.ts checks before loading.
// binding.gyp runs this script as its one action, so `node-gyp rebuild` (and npm rebuild,
// prebuildify, electron-rebuild) builds through cmake-js too: see docs/packaging.md.
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

/**
 * Each variant's folder: node-gyp runs there (it holds a binding.gyp), its binary is built
 * into <root>/build/Release and prebuilt into <root>/prebuilds/<platform>-<arch>, both two
 * levels below the root, so one RPATH (rpathUp: from there up to the package root) serves both.
 */
export const VARIANT_DIRS = {
  cpu: { root: PACKAGE_ROOT, rpathUp: '../..' },
  cuda: { root: path.join(PACKAGE_ROOT, 'variants', 'cuda'), rpathUp: '../../../..' },
};

/** 'auto': HEXA_TORCH_VARIANT, else the variant of the recorded LibTorch (the one the loader will load), else cpu. */
export function resolveVariant(variant) {
  if (variant && variant !== 'auto') return variant;
  const asked = process.env.HEXA_TORCH_VARIANT;
  if (asked) return asked;
  return readRecord()?.variant ?? 'cpu';
}

export function build({ variant = 'cpu', torch } = {}) {
  variant = resolveVariant(variant);
  if (!VARIANT_DIRS[variant]) throw new Error(`--variant must be cpu, cuda or auto, got ${variant}`);
  torch ??= libtorchFor(variant);
  if (variant === 'cuda' && torch.variant !== 'cuda') throw new Error(`the LibTorch at ${torch.root} has no CUDA`);
  const { root, rpathUp } = VARIANT_DIRS[variant];
  const out = path.join(root, 'build-cmake');
  // node-gyp's product folder when it runs in `root`; the RPATH fits only two levels below it.
  const releaseDir = path.join(root, 'build', 'Release');
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
  // Paths under the base folder reach ccache relative to the build folder, so a clone or an
  // installed package at another path reuses the objects compiled elsewhere on this machine.
  env.CCACHE_BASEDIR ??= commonDir(PACKAGE_ROOT, defs.NODE_ADDON_API_DIR);
  // Without an explicit list LibTorch's cmake try_run()s a GPU probe, which needs a GPU.
  if (variant === 'cuda') env.TORCH_CUDA_ARCH_LIST ??= '9.0+PTX';
  const r = spawnSync(process.execPath, args, { cwd: PACKAGE_ROOT, stdio: 'inherit', env });
  if (r.status !== 0) throw new Error(`cmake-js failed (exit ${r.status ?? r.signal}); see the compiler output above`);
  fs.mkdirSync(releaseDir, { recursive: true });
  const binary = path.join(releaseDir, 'hexa_torch.node');
  // Copy to a temporary name and rename, so a process that has the old binary open keeps it.
  fs.copyFileSync(path.join(out, 'Release', 'hexa_torch.node'), `${binary}.tmp`);
  fs.renameSync(`${binary}.tmp`, binary);
  fs.writeFileSync(
    path.join(releaseDir, 'build-info.json'),
    JSON.stringify({ torch: torch.version, variant, rpathUp, builtAt: new Date().toISOString() }, null, 2) + '\n',
  );
  process.stderr.write(`hexa-torch: built ${binary} in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  return binary;
}

/** The deepest folder that holds both a and b. */
function commonDir(a, b) {
  const pa = path.resolve(a).split(path.sep);
  const pb = path.resolve(b).split(path.sep);
  let i = 0;
  while (i < pa.length && i < pb.length && pa[i] === pb[i]) i++;
  return pa.slice(0, i).join(path.sep) || path.sep;
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
  const { values } = parseArgs({ options: { variant: { type: 'string', default: 'cpu' } } });
  try {
    build({ variant: values.variant });
  } catch (e) {
    process.stderr.write(`hexa-torch: ${e.message}\n`);
    process.exit(1);
  }
}
