#!/usr/bin/env node
// npm's install step (also what `npm rebuild hexa-torch` runs): find (or bootstrap) LibTorch,
// record it, then use the prebuilt binary when it was built against that LibTorch version,
// else build from source through node-gyp (binding.gyp, whose one action is the cmake-js build).
// Env: LIBTORCH, HEXA_PYTHON, HEXA_TORCH_CACHE, HEXA_TORCH_VARIANT, HEXA_PIP_INDEX_URL,
// HEXA_PIP_EXTRA_ARGS; HEXA_TORCH_BUILD_FROM_SOURCE=1 or npm's --build-from-source
// (npm_config_build_from_source=true) ignores the prebuilt binaries.
import fs from 'node:fs';
import path from 'node:path';
import { build, VARIANT_DIRS } from './build.mjs';
import { ensureGlooHeaders } from './gloo.mjs';
import { gypRebuild, nodeGypPath } from './gyp.mjs';
import { record, resolve } from './libtorch.mjs';
import { prebuiltBinary } from './prebuild.mjs';

function sameVersion(a, b) {
  const core = (v) => String(v ?? '').split('+')[0];
  return core(a) === core(b);
}

/** The prebuilt binary for `variant`, when it was built against LibTorch `version`; else null. */
export function matchingPrebuild(variant, version) {
  const p = prebuiltBinary(variant);
  return p && p.info && sameVersion(p.info.torch, version) ? p.file : null;
}

/**
 * node-gyp-build prefers build/Release over prebuilds/: a binary built there earlier against
 * another LibTorch would shadow the matching prebuilt one (and fail the loader's check).
 */
function removeStaleBuild(variant, version) {
  const release = path.join(VARIANT_DIRS[variant].root, 'build', 'Release');
  let info = null;
  try {
    info = JSON.parse(fs.readFileSync(path.join(release, 'build-info.json'), 'utf8'));
  } catch {}
  if (fs.existsSync(path.join(release, 'hexa_torch.node')) && !(info && sameVersion(info.torch, version))) {
    process.stderr.write(`hexa-torch: removing ${release} (built against LibTorch ${info?.torch ?? 'unknown'})\n`);
    fs.rmSync(release, { recursive: true, force: true });
  }
}

/** Why the install step compiles: said before it does, since it takes minutes. */
function whyFromSource(torch) {
  if (buildFromSourceAsked()) return 'HEXA_TORCH_BUILD_FROM_SOURCE or --build-from-source asked for it';
  const p = prebuiltBinary(torch.variant);
  if (!p) return `this package has no prebuilt ${torch.variant} binary for ${process.platform}-${process.arch}`;
  if (!p.info) return `the prebuilt ${torch.variant} binary has no build-info.json`;
  return `the prebuilt ${torch.variant} binary was built against LibTorch ${p.info.torch}, the LibTorch found is ${torch.version} (LibTorch has no stable C++ ABI; set LIBTORCH or HEXA_PYTHON to a LibTorch ${p.info.torch} to use the prebuilt binary)`;
}

/** Whether the user asked to compile even when a prebuilt binary matches. */
export function buildFromSourceAsked(env = process.env) {
  const on = (v) => v !== undefined && v !== '' && v !== '0' && v !== 'false';
  return on(env.HEXA_TORCH_BUILD_FROM_SOURCE) || on(env.npm_config_build_from_source);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    const t0 = Date.now();
    const torch = resolve();
    record(torch);
    process.stderr.write(`hexa-torch: using LibTorch ${torch.version} (${torch.variant}) from ${torch.source}: ${torch.root}\n`);
    const prebuilt = buildFromSourceAsked() ? null : matchingPrebuild(torch.variant, torch.version);
    if (!prebuilt) {
      process.stderr.write(`hexa-torch: building from source: ${whyFromSource(torch)}\n`);
      // Multi-process training's Gloo backend compiles against gloo's headers (cached after
      // the first fetch; `npm run prebuilds` in a source checkout uses them too).
      ensureGlooHeaders();
    }
    if (prebuilt) {
      removeStaleBuild(torch.variant, torch.version);
      process.stderr.write(`hexa-torch: using the prebuilt binary ${path.relative(process.cwd(), prebuilt)}\n`);
    } else if (nodeGypPath()) {
      gypRebuild(torch.variant);
    } else {
      process.stderr.write('hexa-torch: node-gyp not found; building with cmake-js directly\n');
      build({ variant: torch.variant, torch });
    }
    process.stderr.write(`hexa-torch: install step done in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  } catch (e) {
    process.stderr.write(`hexa-torch: install failed: ${e.message}\n`);
    process.exit(1);
  }
}
