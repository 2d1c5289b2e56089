// How the package finds its binary and LibTorch, and what it says when they don't match.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { addon } from '../lib/native.js';
import { checkLinkage } from '../scripts/check-linkage.mjs';

const root = path.join(__dirname, '..');

function importInChild(env: NodeJS.ProcessEnv) {
  const script = `import('${path.join(root, 'lib', 'index.ts')}').then((h) => console.log(JSON.stringify(h.info()))).catch((e) => { console.error(e.message); process.exit(3); })`;
  return spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: root, env: { ...process.env, ...env }, encoding: 'utf8' });
}

it('refuses a binary built against another LibTorch version, saying what to run', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hexa-mismatch-'));
  try {
    const dir = path.join(tmp, 'prebuilds', `${process.platform}-${process.arch}`);
    fs.mkdirSync(dir, { recursive: true });
    fs.copyFileSync(addon().path, path.join(dir, 'node.napi.node'));
    fs.writeFileSync(path.join(dir, 'build-info.json'), JSON.stringify({ torch: '2.12.0', variant: 'cpu' }));
    const r = importInChild({ HEXA_TORCH_PREBUILD: tmp });
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/built against LibTorch 2\.12\.0 but LibTorch 2\.\d+\.\d+\S* is installed/);
    expect(r.stderr).toMatch(/npm rebuild hexa-torch/);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

it('says how to fix a missing binary', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hexa-nobinary-'));
  try {
    const r = importInChild({ HEXA_TORCH_PREBUILD: tmp, PREBUILDS_ONLY: '1' });
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/no cpu binary was built or prebuilt/);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

it('refuses an unknown HEXA_TORCH_VARIANT and a CUDA request on a CPU LibTorch', () => {
  expect(importInChild({ HEXA_TORCH_VARIANT: 'rocm' }).stderr).toMatch(/HEXA_TORCH_VARIANT must be 'cpu' or 'cuda', got 'rocm'/);
  if (addon().libtorch.variant === 'cpu') {
    expect(importInChild({ HEXA_TORCH_VARIANT: 'cuda' }).stderr).toMatch(/CUDA variant was asked for but the LibTorch in use .* is a CPU build/);
  }
});

it('the CPU binary resolves every library through its RPATH (no LD_LIBRARY_PATH)', () => {
  const r = checkLinkage('cpu', addon().variant === 'cpu' ? addon().path : undefined);
  expect(r.missing).toEqual([]);
  expect(r.loaded).toMatchObject({ variant: 'cpu', cudaBuilt: false });
});

const cudaBinary = ['prebuilds', 'build/Release'].some((d) => fs.existsSync(path.join(root, 'variants', 'cuda', d)));
it.skipIf(!cudaBinary)('the CUDA binary links libtorch_cuda and cudart, resolves everything and loads (skipped when no CUDA variant was built: npm run prebuilds builds it)', () => {
  const r = checkLinkage('cuda');
  console.log(JSON.stringify(r));
  expect(r.missing).toEqual([]);
  expect(r.hasTorchCuda).toBe(true);
  expect(r.loaded).toMatchObject({ variant: 'cuda', cudaBuilt: true });
});
