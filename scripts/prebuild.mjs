#!/usr/bin/env node
// npm run prebuilds [-- --variant cpu|cuda]: the prebuilt binaries that ship in the npm
// package, made by prebuildify (--napi --strip --tag-libc) through node-gyp and binding.gyp
// (whose one action is the cmake-js build of CMakeLists.txt), one folder per variant so
// node-gyp-build never has to choose between a CPU and a CUDA binary in one folder:
//   prebuilds/linux-x64/hexa-torch.glibc.node               (CPU)
//   variants/cuda/prebuilds/linux-x64/hexa-torch.glibc.node  (CUDA)
// each with the build-info.json (the LibTorch version it was built against) that the
// install step and the loader check. Default: both variants.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { VARIANT_DIRS } from './build.mjs';
import { nodeGypEnv, nodeGypPath } from './gyp.mjs';
import { PACKAGE_ROOT } from './libtorch.mjs';

const require = createRequire(import.meta.url);

/** The variant's prebuild folder: <variant root>/prebuilds/<platform>-<arch>. */
export function prebuildFolder(variant) {
  return path.join(VARIANT_DIRS[variant].root, 'prebuilds', `${process.platform}-${process.arch}`);
}

/**
 * The prebuilt binary node-gyp-build would load for `variant` on this machine (the same tag
 * matching: runtime, napi/abi, libc), with its build-info.json; null when there is none.
 */
export function prebuiltBinary(variant) {
  const ngb = require('node-gyp-build/node-gyp-build.js');
  const dir = prebuildFolder(variant);
  let files;
  try {
    files = fs.readdirSync(dir);
  } catch {
    return null;
  }
  const runtime = 'node';
  const winner = files.map(ngb.parseTags).filter(ngb.matchTags(runtime, process.versions.modules)).sort(ngb.compareTags(runtime))[0];
  if (!winner) return null;
  let info = null;
  try {
    info = JSON.parse(fs.readFileSync(path.join(dir, 'build-info.json'), 'utf8'));
  } catch {}
  return { file: path.join(dir, winner.file), info };
}

export function prebuild(variant) {
  if (!VARIANT_DIRS[variant]) throw new Error(`--variant must be cpu or cuda, got ${variant}`);
  const { root } = VARIANT_DIRS[variant];
  const dest = prebuildFolder(variant);
  const gyp = nodeGypPath();
  if (!gyp) throw new Error('node-gyp not found: prebuildify needs it (npm bundles one; or npm install node-gyp)');
  // A binary left from an earlier prebuild (another name, other tags) would compete with the new one.
  fs.rmSync(dest, { recursive: true, force: true });
  const args = [
    require.resolve('prebuildify/bin.js'),
    '--napi', '--strip', '--tag-libc',
    // This node's version: node-gyp then uses its local headers instead of downloading some.
    '--target', process.versions.node,
    // The same name for both variants (the CUDA folder has no package.json to take it from).
    '--name', 'hexa-torch',
    '--cwd', root,
  ];
  // prebuildify runs node-gyp rebuild in `root`; binding.gyp's action builds with cmake-js.
  const env = nodeGypEnv({ ...process.env, PREBUILD_NODE_GYP: gyp, HEXA_TORCH_VARIANT: variant });
  process.stderr.write(`hexa-torch: prebuildify ${args.slice(1).join(' ')} (node-gyp: ${gyp})\n`);
  const started = Date.now();
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit', env });
  if (r.status !== 0) throw new Error(`prebuildify failed (exit ${r.status ?? r.signal}); see its output above`);
  // prebuildify moved the binary out of build/Release; its build-info.json goes with it.
  const release = path.join(root, 'build', 'Release');
  fs.renameSync(path.join(release, 'build-info.json'), path.join(dest, 'build-info.json'));
  const nodes = fs.readdirSync(dest).filter((f) => f.endsWith('.node'));
  if (nodes.length !== 1) throw new Error(`expected one binary in ${dest}, found ${nodes.join(', ') || 'none'}`);
  const file = path.join(dest, nodes[0]);
  process.stderr.write(
    `hexa-torch: prebuild ${path.relative(PACKAGE_ROOT, file)} (${(fs.statSync(file).size / 2 ** 20).toFixed(1)} MiB, stripped) in ${((Date.now() - started) / 1000).toFixed(0)} s\n`,
  );
  return file;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { variant: { type: 'string', multiple: true } } });
  const variants = values.variant ?? ['cpu', 'cuda'];
  try {
    for (const v of variants) prebuild(v);
  } catch (e) {
    process.stderr.write(`hexa-torch: prebuild failed: ${e.message}\n`);
    process.exit(1);
  }
}
