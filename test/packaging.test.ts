// The npm package, as a project that depends on hexa-torch sees it: `npm pack`; install the
// tarball into an empty project with no compiler on PATH, where the prebuilt binary (made by
// prebuildify) loads; `npm rebuild` there redoes the install step; and
// `npm rebuild hexa-torch` with HEXA_TORCH_BUILD_FROM_SOURCE=1 compiles the addon from source
// through node-gyp (binding.gyp, whose one action is the cmake-js build) and loads that.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addon } from '../lib/native.js';
import { localNodeDir, nodeGypEnv, nodeGypPath } from '../scripts/gyp.mjs';
import { bootstrapDir } from '../scripts/libtorch.mjs';

const root = path.join(__dirname, '..');
const tuple = `${process.platform}-${process.arch}`;

function which(cmd: string, pathVar = process.env.PATH ?? ''): string | null {
  for (const dir of pathVar.split(':')) {
    const p = path.join(dir, cmd);
    if (dir && fs.existsSync(p)) return p;
  }
  return null;
}

function readJson(file: string) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

// The LibTorch this suite runs with, and its variant: the installed package is pointed at the
// same one (LIBTORCH), so nothing is bootstrapped and a CUDA machine checks the CUDA variant.
const libtorch = addon().libtorch;
const variant = libtorch.variant;
const variantDir = variant === 'cuda' ? path.join('variants', 'cuda') : '';

/** The variant's prebuild, made by `npm run prebuilds -- --variant <v>` when missing or built against another LibTorch. */
function ensurePrebuild() {
  const dir = path.join(root, variantDir, 'prebuilds', tuple);
  const info = fs.existsSync(path.join(dir, 'build-info.json')) ? readJson(path.join(dir, 'build-info.json')) : null;
  if (!info || info.torch.split('+')[0] !== libtorch.version.split('+')[0] || !fs.readdirSync(dir).some((f) => f.endsWith('.node'))) {
    execFileSync(process.execPath, [path.join(root, 'scripts', 'prebuild.mjs'), '--variant', variant], { cwd: root, stdio: 'inherit' });
  }
}

const npmCli = fs.realpathSync(which('npm')!);
let tmp = '';
let app = '';
let pkg = '';
let tarball = '';
let files: string[] = [];
let noCompilerEnv: NodeJS.ProcessEnv = {};

/** npm in the app folder; returns the exit status, the whole log and the seconds it took. */
function npm(args: string[], env: NodeJS.ProcessEnv, cwd = app) {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [npmCli, ...args, '--no-audit', '--no-fund', '--foreground-scripts'], { cwd, env, encoding: 'utf8', timeout: 1_500_000 });
  return { status: r.status, log: `${r.stdout}${r.stderr}${r.error ? String(r.error) : ''}`, seconds: (Date.now() - t0) / 1000 };
}

/** Imports hexa-torch in the app, multiplies a 2x2 matrix by itself, and says which binary did it. */
function useInApp(env: NodeJS.ProcessEnv, cwd = app) {
  const script = `
    import * as hexa from 'hexa-torch';
    const a = hexa.tensor(new Float32Array([1, 2, 3, 4]), [2, 2]);
    const p = await a.matmul(a);
    console.log(JSON.stringify({ binary: hexa.info().binary, variant: hexa.info().variant, cudaAvailable: hexa.cuda.isAvailable(), product: Array.from(await p.data()) }));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd, env, encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr, out: r.status === 0 ? JSON.parse(r.stdout.trim().split('\n').pop()!) : null };
}

it.skipIf(!localNodeDir())(
  'node-gyp configures both binding.gyp files offline, and their one action is the cmake-js build of the right variant ' +
    '(skipped where no Node headers are installed beside node: node-gyp would download them)',
  () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hexa-gyp-'));
    try {
      // The two gyp files in the package's layout, without the rest: configure compiles nothing.
      fs.mkdirSync(path.join(tmp, 'variants', 'cuda'), { recursive: true });
      for (const f of ['binding.gyp', 'variants/cuda/binding.gyp']) fs.copyFileSync(path.join(root, f), path.join(tmp, f));
      const action = (dir: string, extra: string[] = []) => {
        const r = spawnSync(process.execPath, [nodeGypPath()!, 'configure', ...extra], { cwd: dir, env: nodeGypEnv(), encoding: 'utf8', timeout: 120_000 });
        expect(r.status, r.stderr).toBe(0);
        expect(r.stderr).not.toMatch(/http/); // no header download
        const mk = fs.readFileSync(path.join(dir, 'build', 'hexa_torch.target.mk'), 'utf8');
        // A target that compiles nothing: no sources, only the action.
        expect(mk).not.toMatch(/\.o\b/);
        return /; (node \S+build\.mjs --variant \S+)$/m.exec(mk)?.[1];
      };
      expect(action(tmp)).toBe(`node ${tmp}/scripts/build.mjs --variant auto`);
      expect(action(tmp, ['--', '-Dhexa_variant=cuda'])).toBe(`node ${tmp}/scripts/build.mjs --variant cuda`);
      expect(action(path.join(tmp, 'variants', 'cuda'))).toBe(`node ${tmp}/variants/cuda/../../scripts/build.mjs --variant cuda`);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  },
);

describe('the npm package', () => {
  beforeAll(() => {
    ensurePrebuild();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hexa-pack-'));
    const packed = execFileSync(process.execPath, [npmCli, 'pack', '--json', '--pack-destination', tmp], { cwd: root, encoding: 'utf8' });
    const meta = JSON.parse(packed.slice(packed.indexOf('[')))[0];
    files = meta.files.map((f: { path: string }) => f.path);
    tarball = path.join(tmp, meta.filename);
    console.log(`packed ${meta.filename}: ${(meta.size / 2 ** 20).toFixed(2)} MiB packed, ${(meta.unpackedSize / 2 ** 20).toFixed(2)} MiB unpacked, ${files.length} files`);
    app = path.join(tmp, 'app');
    pkg = path.join(app, 'node_modules', 'hexa-torch');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    // A PATH with node and sh (npm runs install scripts through sh) and nothing else:
    // no cc, c++, cmake, make, nvcc, python3.
    const bin = path.join(tmp, 'bin');
    fs.mkdirSync(bin);
    fs.symlinkSync(process.execPath, path.join(bin, 'node'));
    fs.symlinkSync('/bin/sh', path.join(bin, 'sh'));
    noCompilerEnv = { ...process.env, PATH: bin, LIBTORCH: libtorch.root };
    delete noCompilerEnv.HEXA_TORCH_BUILD_FROM_SOURCE;
    delete noCompilerEnv.npm_config_build_from_source;
  }, 900_000);
  afterAll(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('holds one prebuilt binary per variant folder (stripped, tagged, with its LibTorch version), binding.gyp and no build output', () => {
    for (const folder of ['', 'variants/cuda/']) {
      const local = path.join(root, folder, 'prebuilds', tuple);
      // The suite's own variant was prebuilt above; the other one is there when `npm run prebuilds` built it (CI builds both).
      // Whatever was prebuilt must ship (npm's "files" once matched no CUDA prebuild: variants/*/prebuilds/ packs nothing).
      if (!fs.existsSync(local) || !fs.readdirSync(local).some((f) => f.endsWith('.node'))) continue;
      const inFolder = files.filter((f) => f.startsWith(`${folder}prebuilds/${tuple}/`));
      const binaries = inFolder.filter((f) => f.endsWith('.node'));
      // prebuildify --napi --tag-libc: the package name, then the libc tag node-gyp-build matches.
      expect(binaries).toEqual([`${folder}prebuilds/${tuple}/hexa-torch.glibc.node`]);
      expect(inFolder).toContain(`${folder}prebuilds/${tuple}/build-info.json`);
      expect(readJson(path.join(local, 'build-info.json')).variant).toBe(folder ? 'cuda' : 'cpu');
      // --strip: no symbol table left.
      const sections = spawnSync('readelf', ['-S', '-W', path.join(root, binaries[0])], { encoding: 'utf8' });
      expect(sections.status, sections.stderr).toBe(0);
      expect(sections.stdout).not.toMatch(/\.symtab/);
    }
    for (const f of ['binding.gyp', 'variants/cuda/binding.gyp', 'CMakeLists.txt', 'scripts/install.mjs', 'scripts/gyp.mjs', 'scripts/build.mjs', 'dist/lib/index.js']) {
      expect(files).toContain(f);
    }
    expect(files.filter((f) => /^(build|build-cmake|vendor|node_modules)\//.test(f) || /\/(build|build-cmake)\//.test(f))).toEqual([]);
  });

  it('installs into an empty project without a compiler and loads the prebuilt binary', () => {
    for (const tool of ['cc', 'c++', 'g++', 'cmake', 'nvcc', 'python3', 'make']) expect(which(tool, noCompilerEnv.PATH)).toBeNull();
    const install = npm(['install', tarball, '--prefer-offline', '--omit=optional'], noCompilerEnv);
    expect(install.status, install.log).toBe(0);
    expect(install.log).toMatch(new RegExp(`using LibTorch \\S+ \\(${variant}\\) from LIBTORCH`));
    expect(install.log).toMatch(/using the prebuilt binary/);
    expect(install.log).not.toMatch(/node-gyp rebuild|building the \w+ addon/);
    expect(fs.existsSync(path.join(pkg, variantDir, 'build'))).toBe(false);
    const run = useInApp(noCompilerEnv);
    expect(run.status, run.stderr).toBe(0);
    expect(run.out.binary).toBe(path.join(fs.realpathSync(pkg), variantDir, 'prebuilds', tuple, 'hexa-torch.glibc.node'));
    expect(run.out.variant).toBe(variant);
    // On a machine with a GPU the installed CUDA variant must see it, as the suite does.
    expect(run.out.cudaAvailable).toBe(variant === 'cuda' && addon().binding.cudaIsAvailable());
    expect(run.out.product).toEqual([7, 10, 15, 22]);
    console.log(`install from the tarball with the prebuilt ${variant} binary: ${install.seconds.toFixed(1)} s`);
  }, 900_000);

  // The CUDA prebuild needs a CUDA LibTorch of its version; `npm run prebuilds` bootstrapped one into the cache.
  const cudaTorch = path.join(bootstrapDir('cuda'), 'torch');
  const cudaPrebuild = path.join(root, 'variants', 'cuda', 'prebuilds', tuple, 'build-info.json');
  it.skipIf(variant === 'cuda' || !fs.existsSync(cudaPrebuild) || !fs.existsSync(cudaTorch))(
    'against a CUDA LibTorch the same tarball selects and loads its CUDA prebuild, without a compiler ' +
      '(skipped without a CUDA prebuild and the bootstrapped CUDA LibTorch it was built against, which `npm run prebuilds` makes; a CUDA suite checks this above)',
    () => {
      const cudaApp = path.join(tmp, 'app-cuda');
      fs.mkdirSync(cudaApp);
      fs.writeFileSync(path.join(cudaApp, 'package.json'), JSON.stringify({ name: 'app-cuda', private: true, type: 'module' }));
      const env = { ...noCompilerEnv, LIBTORCH: cudaTorch };
      const install = npm(['install', tarball, '--prefer-offline', '--omit=optional'], env, cudaApp);
      expect(install.status, install.log).toBe(0);
      expect(install.log).toMatch(/using LibTorch \S+ \(cuda\) from LIBTORCH/);
      expect(install.log).toMatch(/using the prebuilt binary/);
      const run = useInApp(env, cudaApp);
      expect(run.status, run.stderr).toBe(0);
      const cudaPkg = fs.realpathSync(path.join(cudaApp, 'node_modules', 'hexa-torch'));
      expect(run.out.binary).toBe(path.join(cudaPkg, 'variants', 'cuda', 'prebuilds', tuple, 'hexa-torch.glibc.node'));
      expect(run.out.variant).toBe('cuda');
      expect(run.out.product).toEqual([7, 10, 15, 22]);
      console.log(`install with the prebuilt cuda binary: ${install.seconds.toFixed(1)} s; cuda.isAvailable() = ${run.out.cudaAvailable}`);
    },
    900_000,
  );

  it('npm rebuild redoes the install step: a lost LibTorch record comes back, without a compiler', () => {
    expect(fs.existsSync(path.join(pkg, 'package.json')), 'the install test above must have passed').toBe(true);
    fs.rmSync(path.join(pkg, 'vendor'), { recursive: true, force: true });
    const broken = useInApp(noCompilerEnv);
    expect(broken.status).not.toBe(0);
    expect(broken.stderr).toMatch(/no LibTorch is set up .* run `npm rebuild hexa-torch`/);
    const rebuild = npm(['rebuild', 'hexa-torch'], noCompilerEnv);
    expect(rebuild.status, rebuild.log).toBe(0);
    expect(rebuild.log).toMatch(/using the prebuilt binary/);
    const run = useInApp(noCompilerEnv);
    expect(run.status, run.stderr).toBe(0);
    expect(run.out.product).toEqual([7, 10, 15, 22]);
    console.log(`npm rebuild with the prebuilt binary: ${rebuild.seconds.toFixed(1)} s`);
  }, 900_000);

  it('npm rebuild with HEXA_TORCH_BUILD_FROM_SOURCE=1 compiles the addon through node-gyp and binding.gyp, and that binary loads', () => {
    expect(fs.existsSync(path.join(pkg, 'package.json')), 'the install test above must have passed').toBe(true);
    // The machine's own PATH now: node-gyp needs python3 and make, the build cmake and a C++20 compiler.
    const env: NodeJS.ProcessEnv = { ...process.env, LIBTORCH: libtorch.root, HEXA_TORCH_BUILD_FROM_SOURCE: '1' };
    const rebuild = npm(['rebuild', 'hexa-torch'], env);
    expect(rebuild.status, rebuild.log.slice(-5000)).toBe(0);
    expect(rebuild.log).toMatch(/building from source: HEXA_TORCH_BUILD_FROM_SOURCE or --build-from-source asked for it/);
    expect(rebuild.log).toMatch(/node-gyp rebuild in /);
    expect(rebuild.log).toMatch(/gyp info ok/);
    expect(rebuild.log).toMatch(new RegExp(`building the ${variant} addon against LibTorch`));
    const release = path.join(pkg, variantDir, 'build', 'Release');
    expect(fs.existsSync(path.join(release, 'hexa_torch.node'))).toBe(true);
    expect(readJson(path.join(release, 'build-info.json'))).toMatchObject({ torch: libtorch.version, variant });
    // node-gyp-build prefers build/Release over the prebuilt binary; no compiler is needed to run it.
    const run = useInApp(noCompilerEnv);
    expect(run.status, run.stderr).toBe(0);
    expect(run.out.binary).toBe(path.join(fs.realpathSync(release), 'hexa_torch.node'));
    expect(run.out.variant).toBe(variant);
    expect(run.out.product).toEqual([7, 10, 15, 22]);
    console.log(`npm rebuild from source through node-gyp: ${rebuild.seconds.toFixed(1)} s`);
  }, 1_800_000);

  it('npm rebuild drops a build/Release binary built against another LibTorch, which would shadow the matching prebuilt one', () => {
    const release = path.join(pkg, variantDir, 'build', 'Release');
    expect(fs.existsSync(path.join(release, 'hexa_torch.node')), 'the from-source test above must have passed').toBe(true);
    const infoFile = path.join(release, 'build-info.json');
    fs.writeFileSync(infoFile, JSON.stringify({ ...readJson(infoFile), torch: '2.12.0' }));
    expect(useInApp(noCompilerEnv).stderr).toMatch(/built against LibTorch 2\.12\.0/);
    const rebuild = npm(['rebuild', 'hexa-torch'], noCompilerEnv);
    expect(rebuild.status, rebuild.log).toBe(0);
    expect(rebuild.log).toMatch(/removing .*build\/Release \(built against LibTorch 2\.12\.0\)/);
    expect(rebuild.log).toMatch(/using the prebuilt binary/);
    const run = useInApp(noCompilerEnv);
    expect(run.status, run.stderr).toBe(0);
    expect(run.out.binary).toBe(path.join(fs.realpathSync(pkg), variantDir, 'prebuilds', tuple, 'hexa-torch.glibc.node'));
  }, 900_000);
});
