#!/usr/bin/env node
// Checks that a built binary resolves every shared library through its own RPATH, the way
// an installed package sees it: the binary is staged at its place in a package tree whose
// vendor/torch-home points at the LibTorch it was built against, then `ldd` is read.
//   node scripts/check-linkage.mjs [--variant cpu|cuda] [--binary FILE]
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { libtorchFor, VARIANT_DIRS } from './build.mjs';
import { PACKAGE_ROOT } from './libtorch.mjs';
import { prebuildFolder, prebuiltBinary } from './prebuild.mjs';

export function checkLinkage(variant, binary) {
  const candidates = [
    prebuiltBinary(variant)?.file ?? path.join(prebuildFolder(variant), '*.node'),
    path.join(VARIANT_DIRS[variant].root, 'build', 'Release', 'hexa_torch.node'),
  ];
  binary ??= candidates.find((f) => fs.existsSync(f));
  if (!binary) throw new Error(`no ${variant} binary found (looked for ${candidates.join(', ')}); run npm run prebuilds`);
  const torch = libtorchFor(variant);
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'hexa-linkage-'));
  try {
    const rel = path.relative(PACKAGE_ROOT, prebuildFolder(variant));
    const dest = path.join(stage, rel);
    fs.mkdirSync(dest, { recursive: true });
    fs.copyFileSync(binary, path.join(dest, 'node.napi.node'));
    const home = path.join(stage, 'vendor', 'torch-home');
    fs.mkdirSync(home, { recursive: true });
    fs.symlinkSync(torch.root, path.join(home, 'torch'));
    if (fs.existsSync(path.join(torch.home, 'nvidia'))) fs.symlinkSync(path.join(torch.home, 'nvidia'), path.join(home, 'nvidia'));
    // No LD_LIBRARY_PATH: the RPATH alone must find everything.
    const env = { ...process.env };
    delete env.LD_LIBRARY_PATH;
    const r = spawnSync('ldd', [path.join(dest, 'node.napi.node')], { encoding: 'utf8', env });
    if (r.status !== 0) throw new Error(`ldd failed: ${r.stderr}`);
    const lines = r.stdout.trim().split('\n').map((l) => l.trim());
    const missing = lines.filter((l) => /not found/.test(l));
    const libs = lines.filter((l) => /=>/.test(l)).map((l) => l.split(/\s+/)[0]);
    // Load it too: dlopen runs the static initialisers (LibTorch's backend registration).
    const load = spawnSync(process.execPath, ['-e',
      `const m = require(${JSON.stringify(path.join(dest, 'node.napi.node'))});` +
      `console.log(JSON.stringify({ variant: m.info().variant, cudaBuilt: m.cudaIsBuilt(), cudaAvailable: m.cudaIsAvailable(), devices: m.cudaDeviceCount() }))`],
      { encoding: 'utf8', env });
    const loaded = load.status === 0 ? JSON.parse(load.stdout.trim()) : { error: load.stderr.trim() };
    return { loaded, binary, torch: `${torch.version} (${torch.root})`, libraries: libs.length, missing, hasTorchCuda: libs.includes('libtorch_cuda.so'), hasCudart: libs.some((l) => l.startsWith('libcudart')) };
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { variant: { type: 'string', default: 'cuda' }, binary: { type: 'string' } } });
  try {
    const r = checkLinkage(values.variant, values.binary);
    console.log(`linkage of ${r.binary}: ${r.libraries} libraries resolved through the RPATH against LibTorch ${r.torch}; ` +
      `libtorch_cuda ${r.hasTorchCuda ? 'linked' : 'absent'}, libcudart ${r.hasCudart ? 'linked' : 'absent'}; ${r.missing.length} missing; ` +
      `loaded: ${JSON.stringify(r.loaded)}`);
    if (r.missing.length || r.loaded.error) {
      console.error(r.missing.join('\n'));
      process.exit(1);
    }
  } catch (e) {
    console.error(`hexa-torch: ${e.message}`);
    process.exit(1);
  }
}
