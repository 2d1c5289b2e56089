#!/usr/bin/env node
// npm run prebuild [-- --variant cpu|cuda]: builds the prebuilt binaries that ship in the
// npm package, in prebuildify's layout, one folder per variant so node-gyp-build never
// has to choose between a CPU and a CUDA binary in one folder:
//   prebuilds/linux-x64/node.napi.node               (CPU)
//   variants/cuda/prebuilds/linux-x64/node.napi.node  (CUDA)
// each with the build-info.json that the loader checks. Default: both variants.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { build, VARIANT_DIRS } from './build.mjs';
import { PACKAGE_ROOT } from './libtorch.mjs';

export function prebuild(variant) {
  const tuple = `${process.platform}-${process.arch}`;
  const dest = path.join(VARIANT_DIRS[variant].root, 'prebuilds', tuple);
  // The variant's own build folder (same RPATH depth as the prebuild folder): after an
  // install has built from source, the prebuild is a no-op rebuild plus a copy.
  const node = build({ variant });
  fs.rmSync(dest, { recursive: true, force: true });
  fs.mkdirSync(dest, { recursive: true });
  fs.copyFileSync(node, path.join(dest, 'node.napi.node'));
  fs.copyFileSync(path.join(path.dirname(node), 'build-info.json'), path.join(dest, 'build-info.json'));
  process.stderr.write(`hexa-torch: prebuild ${path.relative(PACKAGE_ROOT, dest)}/node.napi.node\n`);
  return path.join(dest, 'node.napi.node');
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
