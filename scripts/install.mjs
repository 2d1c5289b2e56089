#!/usr/bin/env node
// npm's install step: find (or bootstrap) LibTorch, record it, then use a matching prebuilt
// binary or build from source. Env: LIBTORCH, HEXA_PYTHON, HEXA_TORCH_CACHE, HEXA_TORCH_VARIANT,
// HEXA_PIP_INDEX_URL, HEXA_PIP_EXTRA_ARGS, HEXA_TORCH_BUILD_FROM_SOURCE=1 (ignore prebuilds).
import fs from 'node:fs';
import path from 'node:path';
import { build, VARIANT_DIRS } from './build.mjs';
import { record, resolve } from './libtorch.mjs';

function sameVersion(a, b) {
  const core = (v) => String(v ?? '').split('+')[0];
  return core(a) === core(b);
}

/** A prebuilt binary for `variant` built against `version`, or null. */
export function matchingPrebuild(variant, version) {
  const dir = path.join(VARIANT_DIRS[variant].root, 'prebuilds', `${process.platform}-${process.arch}`);
  try {
    const info = JSON.parse(fs.readFileSync(path.join(dir, 'build-info.json'), 'utf8'));
    const node = fs.readdirSync(dir).find((f) => f.endsWith('.node'));
    return node && sameVersion(info.torch, version) ? path.join(dir, node) : null;
  } catch {
    return null;
  }
}

try {
  const torch = resolve();
  record(torch);
  process.stderr.write(`hexa-torch: using LibTorch ${torch.version} (${torch.variant}) from ${torch.source}: ${torch.root}\n`);
  const prebuilt = process.env.HEXA_TORCH_BUILD_FROM_SOURCE ? null : matchingPrebuild(torch.variant, torch.version);
  if (prebuilt) {
    process.stderr.write(`hexa-torch: using the prebuilt binary ${path.relative(process.cwd(), prebuilt)}\n`);
  } else {
    build({ variant: torch.variant, torch });
  }
} catch (e) {
  process.stderr.write(`hexa-torch: install failed: ${e.message}\n`);
  process.exit(1);
}
