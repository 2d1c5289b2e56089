// Finds and loads the addon and the LibTorch it links, checks that they match, and says
// exactly what is wrong when they don't. The only module that touches the raw binding's
// location; everything else imports `native` from here.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NativeBinding } from './native-types.js';

const require = createRequire(import.meta.url);

/** The package root: the nearest folder above this file whose package.json is hexa-torch's. */
export const packageRoot: string = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg) && JSON.parse(fs.readFileSync(pkg, 'utf8')).name === 'hexa-torch') return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error('hexa-torch: cannot find the package root above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
})();

/** What scripts/libtorch.mjs recorded at install time (vendor/libtorch.json). */
export interface LibTorchRecord {
  source: string;
  root: string;
  home: string;
  layout: 'wheel' | 'libtorch';
  version: string;
  variant: 'cpu' | 'cuda';
  nvidiaLibs: string[];
}

/** What scripts/build.mjs wrote beside the binary (build-info.json). */
export interface BuildInfo {
  torch: string;
  variant: 'cpu' | 'cuda';
}

export interface LoadedAddon {
  binding: NativeBinding;
  variant: 'cpu' | 'cuda';
  path: string;
  build: BuildInfo;
  libtorch: LibTorchRecord;
}

const FIX_REINSTALL = 'run `npm rebuild hexa-torch` (it finds LibTorch again and builds against it if no prebuilt binary matches)';

function readJson<T>(file: string): T | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return null;
  }
}

/** The version without its local tag: 2.13.0+cpu -> 2.13.0. */
function coreVersion(v: string): string {
  return v.split('+')[0];
}

function locateBinary(variant: 'cpu' | 'cuda'): string {
  // node-gyp-build looks in <dir>/build/Release, then <dir>/prebuilds/<platform>-<arch>;
  // HEXA_TORCH_PREBUILD (its <PKG>_PREBUILD variable) points it at another folder.
  const nodeGypBuild = require('node-gyp-build') as { path(dir: string): string };
  const dir = variant === 'cuda' ? path.join(packageRoot, 'variants', 'cuda') : packageRoot;
  return nodeGypBuild.path(dir);
}

function load(): LoadedAddon {
  const recordPath = path.join(packageRoot, 'vendor', 'libtorch.json');
  const libtorch = readJson<LibTorchRecord>(recordPath);
  if (!libtorch) {
    throw new Error(`hexa-torch: no LibTorch is set up for this package (${recordPath} is missing); ${FIX_REINSTALL}`);
  }
  if (!fs.existsSync(path.join(libtorch.root, 'lib'))) {
    throw new Error(`hexa-torch: the LibTorch recorded at install time is gone (${libtorch.root}); ${FIX_REINSTALL}`);
  }
  const asked = process.env.HEXA_TORCH_VARIANT;
  if (asked && asked !== 'cpu' && asked !== 'cuda') {
    throw new Error(`hexa-torch: HEXA_TORCH_VARIANT must be 'cpu' or 'cuda', got '${asked}'`);
  }
  const variant = (asked as 'cpu' | 'cuda' | undefined) ?? libtorch.variant;
  if (variant === 'cuda' && libtorch.variant !== 'cuda') {
    throw new Error(
      `hexa-torch: the CUDA variant was asked for but the LibTorch in use (${libtorch.version} at ${libtorch.root}) is a CPU build; ` +
        'reinstall with HEXA_TORCH_VARIANT=cuda or LIBTORCH set to a CUDA LibTorch',
    );
  }
  let file: string;
  try {
    file = locateBinary(variant);
  } catch (e) {
    throw new Error(`hexa-torch: no ${variant} binary was built or prebuilt for this machine; ${FIX_REINSTALL}\n${(e as Error).message}`);
  }
  const build = readJson<BuildInfo>(path.join(path.dirname(file), 'build-info.json'));
  if (!build) throw new Error(`hexa-torch: ${file} has no build-info.json beside it; ${FIX_REINSTALL}`);
  if (coreVersion(build.torch) !== coreVersion(libtorch.version) && !process.env.HEXA_TORCH_SKIP_VERSION_CHECK) {
    throw new Error(
      `hexa-torch: the addon was built against LibTorch ${build.torch} but LibTorch ${libtorch.version} is installed ` +
        `(${libtorch.root}). LibTorch has no stable C++ ABI across versions; ${FIX_REINSTALL}, ` +
        `or point LIBTORCH/HEXA_PYTHON at LibTorch ${build.torch}. HEXA_TORCH_SKIP_VERSION_CHECK=1 skips this check at your own risk.`,
    );
  }
  applyOpenMPWaitPolicy();
  let binding: NativeBinding;
  try {
    binding = require(file) as NativeBinding;
  } catch (e) {
    const msg = (e as Error).message;
    const hint = /undefined symbol/.test(msg)
      ? `an undefined symbol means the addon and LibTorch do not match (version or C++ ABI); ${FIX_REINSTALL}`
      : /cannot open shared object file/.test(msg)
        ? `a shared library was not found; the addon finds LibTorch through ${path.join(packageRoot, 'vendor', 'torch-home')}; ${FIX_REINSTALL}`
        : FIX_REINSTALL;
    throw new Error(`hexa-torch: cannot load ${file}: ${msg}\n${hint}`);
  }
  return { binding, variant, path: file, build, libtorch };
}

/**
 * How long an idle OpenMP thread spins before it sleeps, set before LibTorch's libgomp loads
 * (it reads its environment once, then). libgomp spins 300,000 times by default while a
 * process has no more OpenMP threads than CPUs, which is always true of our one compute thread
 * and its team; with other programs busy on the same cores, each parallel region then waits on a
 * descheduled spinner: a MoCo-v2 step measured 4.2 s instead of 0.38 s with the spin of 1,000
 * that libgomp itself uses for an oversubscribed process. A user's OMP_WAIT_POLICY or
 * GOMP_SPINCOUNT wins.
 */
export const DEFAULT_GOMP_SPINCOUNT = '1000';
const injectedEnv = new Set<string>();
function applyOpenMPWaitPolicy(): void {
  if (process.env.OMP_WAIT_POLICY === undefined && process.env.GOMP_SPINCOUNT === undefined) {
    process.env.GOMP_SPINCOUNT = DEFAULT_GOMP_SPINCOUNT;
    injectedEnv.add('GOMP_SPINCOUNT');
  }
}

/** process.env without what loading the addon added: for child processes that are not ours (benchmark peers). */
export function userEnvironment(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of injectedEnv) delete env[k];
  return env;
}

let loaded: LoadedAddon | null = null;

/** The loaded addon (loaded on first use, so importing the package never throws). */
export function addon(): LoadedAddon {
  loaded ??= load();
  return loaded;
}

/** The raw binding: validated arguments in, handles and Promises out. */
export function native(): NativeBinding {
  return addon().binding;
}
