// Finds (or bootstraps) the LibTorch that hexa-torch builds against and loads at run time.
// Used by the install step, the build and the run-time loader (lib/native.ts reads the
// record this file writes), so there is exactly one place that knows the search order:
//   1. LIBTORCH: a LibTorch folder (include/, lib/, share/cmake/)
//   2. a Python torch: HEXA_PYTHON, else python3 on PATH
//   3. a pip bootstrap into the cache (HEXA_TORCH_CACHE, default ~/.cache/hexa-torch)
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** LibTorch versions this release builds against and loads (major.minor, inclusive). */
export const SUPPORTED = { min: [2, 11], max: [2, 14] };
/** What the bootstrap installs for each variant when nothing else is found. */
export const BOOTSTRAP = {
  cpu: { version: '2.13.0', spec: ['torch==2.13.0+cpu'], deps: ['filelock', 'typing-extensions', 'sympy', 'mpmath<1.4', 'networkx', 'jinja2', 'MarkupSafe', 'fsspec'] },
  // The CUDA wheel's own dependency list names packages some mirrors lack (cuda-bindings),
  // so it is installed with --no-deps and its run-time libraries are listed here.
  cuda: {
    version: '2.14.1',
    spec: ['torch==2.14.1'],
    deps: ['filelock', 'typing-extensions', 'setuptools', 'sympy', 'mpmath<1.4', 'networkx', 'jinja2', 'MarkupSafe', 'fsspec',
      'cuda-toolkit==13.0.3', 'nvidia-cublas==13.1.1.3', 'nvidia-cuda-runtime==13.0.96', 'nvidia-cufft==12.0.0.61',
      'nvidia-cufile==1.15.1.6', 'nvidia-cuda-cupti==13.0.85', 'nvidia-curand==10.4.0.35', 'nvidia-cusolver==12.0.4.66',
      'nvidia-cusparse==12.6.3.3', 'nvidia-nvjitlink==13.4.92', 'nvidia-cuda-nvrtc==13.0.88', 'nvidia-nvtx==13.0.85',
      'nvidia-cudnn-cu13==9.24.0.43', 'nvidia-cusparselt-cu13==0.8.1', 'nvidia-nccl-cu13==2.30.7', 'nvidia-nvshmem-cu13==3.4.5'],
  },
};

/** The record of the LibTorch this package uses; written by the install step. */
export const RECORD_PATH = path.join(PACKAGE_ROOT, 'vendor', 'libtorch.json');
/**
 * vendor/torch-home/ holds two symlinks: torch -> the LibTorch folder, nvidia -> the pip
 * wheels' CUDA libraries (when there are any). The addon's RPATH is
 * $ORIGIN/../../vendor/torch-home/torch/lib, the same for build/Release/ and prebuilds/<p>/,
 * so one binary works wherever LibTorch came from. glibc does not resolve symlinks for
 * $ORIGIN, and libtorch_cuda's own RUNPATH ($ORIGIN/../../nvidia/...) then lands on the
 * nvidia link beside it.
 */
export const VENDOR_HOME = path.join(PACKAGE_ROOT, 'vendor', 'torch-home');

export function cacheRoot() {
  return process.env.HEXA_TORCH_CACHE || path.join(os.homedir(), '.cache', 'hexa-torch');
}

function log(msg) {
  process.stderr.write(`hexa-torch: ${msg}\n`);
}

/** Reads a LibTorch folder's version without loading it. */
export function readTorchVersion(torchDir) {
  const buildVersion = path.join(torchDir, 'build-version');
  if (fs.existsSync(buildVersion)) return fs.readFileSync(buildVersion, 'utf8').trim();
  const versionPy = path.join(torchDir, 'version.py');
  if (fs.existsSync(versionPy)) {
    const m = /__version__\s*=\s*'([^']+)'/.exec(fs.readFileSync(versionPy, 'utf8'));
    if (m) return m[1];
  }
  for (const header of ['include/torch/headeronly/version.h', 'include/torch/csrc/api/include/torch/version.h']) {
    const file = path.join(torchDir, header);
    if (!fs.existsSync(file)) continue;
    const text = fs.readFileSync(file, 'utf8');
    const part = (name) => /(\d+)/.exec(text.split(`#define TORCH_VERSION_${name}`)[1] ?? '')?.[1];
    const [maj, min, pat] = [part('MAJOR'), part('MINOR'), part('PATCH')];
    if (maj && min && pat) return `${maj}.${min}.${pat}`;
  }
  return null;
}

export function parseMajorMinor(version) {
  const m = /^(\d+)\.(\d+)/.exec(version ?? '');
  return m ? [Number(m[1]), Number(m[2])] : null;
}

export function isSupported(version) {
  const mm = parseMajorMinor(version);
  if (!mm) return false;
  const cmp = (a, b) => a[0] - b[0] || a[1] - b[1];
  return cmp(mm, SUPPORTED.min) >= 0 && cmp(mm, SUPPORTED.max) <= 0;
}

/** Describes a LibTorch folder (the folder that holds include/, lib/, share/cmake). */
export function describe(torchDir, source) {
  const root = path.resolve(torchDir);
  if (!fs.existsSync(path.join(root, 'share', 'cmake', 'Torch'))) {
    throw new Error(`${source}: ${root} is not a LibTorch folder (no share/cmake/Torch)`);
  }
  const version = readTorchVersion(root);
  if (!isSupported(version)) {
    throw new Error(
      `${source}: LibTorch ${version ?? '(unknown version)'} at ${root} is not supported; ` +
        `hexa-torch supports ${SUPPORTED.min.join('.')} to ${SUPPORTED.max.join('.')}`,
    );
  }
  const cuda = fs.existsSync(path.join(root, 'lib', 'libtorch_cuda.so'));
  // A pip wheel keeps the CUDA libraries beside torch/ in nvidia/*/lib.
  const home = path.dirname(root);
  const nvidiaDir = path.join(home, 'nvidia');
  const nvidiaLibs = fs.existsSync(nvidiaDir)
    ? fs.readdirSync(nvidiaDir)
        .flatMap((d) => [path.join(nvidiaDir, d, 'lib'), path.join(nvidiaDir, d, 'lib64')])
        .filter((d) => fs.existsSync(d))
        .sort()
    : [];
  const nvidiaIncludes = fs.existsSync(nvidiaDir)
    ? fs.readdirSync(nvidiaDir)
        .map((d) => path.join(nvidiaDir, d, 'include'))
        .filter((d) => fs.existsSync(d))
        .sort()
    : [];
  return { source, root, home, layout: path.basename(root) === 'torch' ? 'wheel' : 'libtorch', version, variant: cuda ? 'cuda' : 'cpu', nvidiaLibs, nvidiaIncludes };
}

function pythonTorchDir(python) {
  const r = spawnSync(python, ['-c', 'import os, torch; print(os.path.dirname(torch.__file__))'], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (r.status !== 0) return null;
  return r.stdout.trim().split('\n').pop() || null;
}

/** Where the bootstrap puts a variant's wheel: <cache>/torch-<version>-<variant>/site-packages/torch */
export function bootstrapDir(variant) {
  return path.join(cacheRoot(), `torch-${BOOTSTRAP[variant].version}-${variant === 'cuda' ? 'cu130' : 'cpu'}`, 'site-packages');
}

/**
 * Installs the variant's torch wheel with pip into the cache. Fails fast: no retries and a
 * short timeout, so an unreachable index costs seconds, not minutes. HEXA_PIP_INDEX_URL
 * replaces pip's index; HEXA_PIP_EXTRA_ARGS adds arguments (split on spaces).
 */
export function bootstrap(variant) {
  const target = bootstrapDir(variant);
  const torchDir = path.join(target, 'torch');
  if (fs.existsSync(path.join(torchDir, 'share', 'cmake', 'Torch'))) return torchDir;
  const python = process.env.HEXA_PYTHON || 'python3';
  const spec = BOOTSTRAP[variant];
  const tmp = `${target}.partial-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  const args = ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '--retries', '0', '--timeout', '20',
    '--no-deps', '--target', tmp];
  if (process.env.HEXA_PIP_INDEX_URL) args.push('--index-url', process.env.HEXA_PIP_INDEX_URL);
  if (process.env.HEXA_PIP_EXTRA_ARGS) args.push(...process.env.HEXA_PIP_EXTRA_ARGS.split(' ').filter(Boolean));
  args.push(...spec.spec, ...spec.deps);
  log(`bootstrapping LibTorch ${spec.version} (${variant}) with pip into ${target}`);
  const started = Date.now();
  const r = spawnSync(python, args, { stdio: ['ignore', 'inherit', 'inherit'], timeout: 20 * 60_000 });
  if (r.status !== 0) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw new Error(
      `could not install ${spec.spec.join(' ')} with ${python} -m pip (exit ${r.status ?? r.signal}). ` +
        'Set LIBTORCH to a LibTorch folder, HEXA_PYTHON to a Python that has torch, or HEXA_PIP_INDEX_URL to an index that serves the wheel.',
    );
  }
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.rmSync(target, { recursive: true, force: true });
  fs.renameSync(tmp, target);
  log(`LibTorch ${spec.version} (${variant}) installed in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return torchDir;
}

/** Whether this machine looks able to run CUDA: nvcc to build and a driver to run. */
export function cudaWanted() {
  const asked = process.env.HEXA_TORCH_VARIANT;
  if (asked === 'cuda' || asked === 'cpu') return asked === 'cuda';
  if (asked) throw new Error(`HEXA_TORCH_VARIANT must be 'cpu' or 'cuda', got '${asked}'`);
  const hasDriver = fs.existsSync('/proc/driver/nvidia/version');
  let hasNvcc = false;
  try {
    execFileSync('nvcc', ['--version'], { stdio: 'ignore' });
    hasNvcc = true;
  } catch {}
  return hasDriver && hasNvcc;
}

/**
 * Finds LibTorch in the documented order. `variant` ('cpu' | 'cuda' | undefined) only
 * matters for the bootstrap; a LIBTORCH or Python torch is taken as it is.
 */
export function resolve({ variant, allowBootstrap = true } = {}) {
  if (process.env.LIBTORCH) return describe(process.env.LIBTORCH, 'LIBTORCH');
  // HEXA_TORCH_NO_PYTHON=1 skips the look at python3 (LIBTORCH and the cache still count).
  const python = process.env.HEXA_PYTHON || (process.env.HEXA_TORCH_NO_PYTHON ? null : 'python3');
  if (python) {
    const dir = pythonTorchDir(python);
    if (dir) return describe(dir, process.env.HEXA_PYTHON ? 'HEXA_PYTHON' : 'python3');
    if (process.env.HEXA_PYTHON) throw new Error(`HEXA_PYTHON=${python} cannot import torch`);
  }
  const v = variant ?? (cudaWanted() ? 'cuda' : 'cpu');
  const cached = bootstrapDir(v);
  if (fs.existsSync(path.join(cached, 'torch', 'share', 'cmake', 'Torch'))) return describe(path.join(cached, 'torch'), 'cache');
  if (!allowBootstrap) throw new Error('no LibTorch found (set LIBTORCH or HEXA_PYTHON, or run npm install to bootstrap one)');
  return describe(bootstrap(v), 'bootstrap');
}

/** Writes vendor/libtorch.json and the vendor/torch-home links. */
export function record(info) {
  fs.rmSync(VENDOR_HOME, { force: true, recursive: true });
  fs.mkdirSync(VENDOR_HOME, { recursive: true });
  fs.symlinkSync(info.root, path.join(VENDOR_HOME, 'torch'), 'dir');
  const nvidia = path.join(info.home, 'nvidia');
  if (fs.existsSync(nvidia)) fs.symlinkSync(nvidia, path.join(VENDOR_HOME, 'nvidia'), 'dir');
  fs.writeFileSync(RECORD_PATH, JSON.stringify(info, null, 2) + '\n');
}

export function readRecord() {
  try {
    return JSON.parse(fs.readFileSync(RECORD_PATH, 'utf8'));
  } catch {
    return null;
  }
}
