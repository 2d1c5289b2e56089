// The install step's LibTorch search: the order, and a bootstrap that fails fast and clearly.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { addon } from '../lib/native.js';

const root = path.join(__dirname, '..');

function runLibtorch(code: string, env: NodeJS.ProcessEnv) {
  const script = `import * as lt from './scripts/libtorch.mjs'; try { ${code} } catch (e) { console.error(e.message); process.exit(3); }`;
  return spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, env, encoding: 'utf8', timeout: 120_000 });
}

/** The environment without pip's configured mirrors, so the given index is the only one. */
function isolatedPipEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PIP_') && !k.startsWith('HEXA_') && k !== 'LIBTORCH') env[k] = v;
  return { ...env, PIP_CONFIG_FILE: '/dev/null', ...extra };
}

it('an unreachable package index fails the bootstrap in seconds with a message that says what to set', () => {
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'hexa-cache-'));
  try {
    const t0 = Date.now();
    // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    const r = runLibtorch(`lt.bootstrap('cpu')`, isolatedPipEnv({ HEXA_TORCH_CACHE: cache, HEXA_PIP_INDEX_URL: 'http://127.0.0.1:9/simple' }));
    const seconds = (Date.now() - t0) / 1000;
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/could not install torch==2\.13\.0\+cpu/);
    expect(r.stderr).toMatch(/LIBTORCH/);
    expect(r.stderr).toMatch(/HEXA_PIP_INDEX_URL/);
    expect(seconds).toBeLessThan(60); // pip's defaults would retry for minutes
    expect(fs.readdirSync(cache).filter((f) => !f.includes('partial'))).toEqual([]); // nothing half-installed is left as if complete
    console.log(`failed bootstrap took ${seconds.toFixed(1)} s`);
  } finally {
    fs.rmSync(cache, { recursive: true, force: true });
  }
});

it('LIBTORCH wins over everything and is validated', () => {
  const lt = addon().libtorch;
  const ok = runLibtorch(`console.log(JSON.stringify(lt.resolve({ allowBootstrap: false })))`, { ...process.env, LIBTORCH: lt.root });
  expect(ok.status, ok.stderr).toBe(0);
  const found = JSON.parse(ok.stdout);
  expect(found.source).toBe('LIBTORCH');
  expect(found.root).toBe(lt.root);
  expect(found.version).toBe(lt.version);
  const bad = runLibtorch(`lt.resolve({ allowBootstrap: false })`, { ...process.env, LIBTORCH: os.tmpdir() });
  expect(bad.status).toBe(3);
  expect(bad.stderr).toMatch(/LIBTORCH: .* is not a LibTorch folder/);
});

it('HEXA_PYTHON must be able to import torch', () => {
  const r = runLibtorch(`lt.resolve({ allowBootstrap: false })`, isolatedPipEnv({ HEXA_PYTHON: '/bin/false' }));
  expect(r.status).toBe(3);
  expect(r.stderr).toMatch(/HEXA_PYTHON=\/bin\/false cannot import torch/);
});

it('a Python torch is found through HEXA_PYTHON when it has one', () => {
  const lt = addon().libtorch;
  if (lt.layout !== 'wheel') return; // a plain LibTorch folder has no Python package to point at
  const wrapper = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'hexa-py-')), 'python');
  fs.writeFileSync(wrapper, `#!/bin/sh\nPYTHONPATH=${lt.home} exec python3 "$@"\n`, { mode: 0o755 });
  const r = runLibtorch(`console.log(JSON.stringify(lt.resolve({ allowBootstrap: false })))`, isolatedPipEnv({ HEXA_PYTHON: wrapper }));
  expect(r.status, r.stderr).toBe(0);
  expect(JSON.parse(r.stdout)).toMatchObject({ source: 'HEXA_PYTHON', root: lt.root });
});

it('version support is 2.11 to 2.14', () => {
  const r = runLibtorch(
    `console.log(JSON.stringify(['2.10.0', '2.11.0+cu130', '2.13.0+cpu', '2.14.1', '2.15.0', 'x'].map(lt.isSupported)))`,
    process.env,
  );
  expect(JSON.parse(r.stdout)).toEqual([false, true, true, true, false, false]);
});
