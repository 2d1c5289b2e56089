// The npm package: `npm pack`, install the tarball into an empty folder with no compiler on
// PATH, and load it from its prebuilt binary.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { addon } from '../lib/native.js';

const root = path.join(__dirname, '..');

function which(cmd: string, pathVar = process.env.PATH ?? ''): string | null {
  for (const dir of pathVar.split(':')) {
    const p = path.join(dir, cmd);
    if (dir && fs.existsSync(p)) return p;
  }
  return null;
}

function ensureCpuPrebuild(): string {
  const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  const info = fs.existsSync(path.join(dir, 'build-info.json'))
    ? JSON.parse(fs.readFileSync(path.join(dir, 'build-info.json'), 'utf8'))
    : null;
  const want = addon().libtorch.version.split('+')[0];
  if (!info || info.torch.split('+')[0] !== want) {
    execFileSync(process.execPath, [path.join(root, 'scripts', 'prebuild.mjs'), '--variant', 'cpu'], { cwd: root, stdio: 'inherit' });
  }
  return dir;
}

it('npm pack + install into an empty folder without a compiler loads the prebuilt binary', () => {
  ensureCpuPrebuild();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hexa-pack-'));
  try {
    const npmCli = fs.realpathSync(which('npm')!);
    const packed = execFileSync(process.execPath, [npmCli, 'pack', '--json', '--pack-destination', tmp], { cwd: root, encoding: 'utf8' });
    const meta = JSON.parse(packed.slice(packed.indexOf('[')))[0];
    const files: string[] = meta.files.map((f: { path: string }) => f.path);
    expect(files).toContain(`prebuilds/${process.platform}-${process.arch}/node.napi.node`);
    expect(files).toContain('dist/lib/index.js');
    expect(files).toContain('scripts/install.mjs');
    expect(files.some((f) => f.startsWith('build/') || f.startsWith('vendor/') || f.startsWith('node_modules/'))).toBe(false);
    const tarball = path.join(tmp, meta.filename);

    // A PATH with node and sh (npm runs install scripts through sh) and nothing else:
    // no cc, c++, cmake, nvcc, python3.
    const bin = path.join(tmp, 'bin');
    fs.mkdirSync(bin);
    fs.symlinkSync(process.execPath, path.join(bin, 'node'));
    fs.symlinkSync('/bin/sh', path.join(bin, 'sh'));
    for (const tool of ['cc', 'c++', 'g++', 'cmake', 'nvcc', 'python3', 'make']) expect(which(tool, bin)).toBeNull();
    const app = path.join(tmp, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    const env = { ...process.env, PATH: bin, HEXA_TORCH_NO_PYTHON: '1' };
    delete env.HEXA_TORCH_BUILD_FROM_SOURCE;
    const install = spawnSync(
      process.execPath,
      [npmCli, 'install', tarball, '--no-audit', '--no-fund', '--prefer-offline', '--omit=optional', '--foreground-scripts'],
      { cwd: app, env, encoding: 'utf8', timeout: 600_000 },
    );
    const log = install.stdout + install.stderr;
    expect(install.status, log).toBe(0);
    expect(log).toMatch(/using the prebuilt binary/);
    expect(log).not.toMatch(/building the cpu addon/);
    const pkg = path.join(app, 'node_modules', 'hexa-torch');
    expect(fs.existsSync(path.join(pkg, 'build'))).toBe(false);

    const script = `
      import * as hexa from 'hexa-torch';
      const a = hexa.tensor(new Float32Array([1, 2, 3, 4]), [2, 2]);
      const p = await a.matmul(a);
      console.log(JSON.stringify({ binary: hexa.info().binary, product: Array.from(await p.data()) }));`;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: app, env, encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout.trim().split('\n').pop()!);
    expect(out.binary).toBe(path.join(fs.realpathSync(pkg), 'prebuilds', `${process.platform}-${process.arch}`, 'node.napi.node'));
    expect(out.product).toEqual([7, 10, 15, 22]);
    console.log(`packed ${meta.filename} (${(meta.size / 2 ** 20).toFixed(1)} MiB, ${files.length} files); installed and loaded from ${out.binary}`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}, 900_000);
