// Runs node-gyp on a variant's binding.gyp, whose one action is scripts/build.mjs (cmake-js):
// the from-source path of the install step, of `npm rebuild` and of prebuildify.
//   node scripts/gyp.mjs [--variant cpu|cuda]     (= node-gyp rebuild in the variant's folder)
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { VARIANT_DIRS } from './build.mjs';

const require = createRequire(import.meta.url);

/**
 * The node-gyp to run: npm's (npm sets npm_config_node_gyp for every lifecycle script, so
 * `npm install` and `npm rebuild` use the one npm bundles), else one in node_modules, else
 * the one bundled with the npm installed beside this node.
 */
export function nodeGypPath() {
  const candidates = [process.env.npm_config_node_gyp];
  try {
    candidates.push(require.resolve('node-gyp/bin/node-gyp.js'));
  } catch {}
  if (process.env.npm_execpath) candidates.push(path.join(path.dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  candidates.push(path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  return candidates.find((f) => f && fs.existsSync(f)) ?? null;
}

/**
 * The folder of this node's own headers (<prefix>/include/node), when they are there and
 * of this node's version. node-gyp would otherwise download headers from nodejs.org
 * (the addon compiles nothing through node-gyp, but node-gyp's configure step needs them).
 */
export function localNodeDir() {
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  try {
    const h = fs.readFileSync(path.join(prefix, 'include', 'node', 'node_version.h'), 'utf8');
    const part = (name) => new RegExp(`#define NODE_${name}_VERSION (\\d+)`).exec(h)?.[1];
    const version = `${part('MAJOR')}.${part('MINOR')}.${part('PATCH')}`;
    if (version === process.versions.node && fs.existsSync(path.join(prefix, 'include', 'node', 'common.gypi'))) return prefix;
  } catch {}
  return null;
}

/** The environment for node-gyp: the local node headers unless a nodedir is configured already. */
export function nodeGypEnv(env = process.env) {
  const out = { ...env };
  const nodedir = Object.keys(out).some((k) => k.toLowerCase() === 'npm_config_nodedir') ? null : localNodeDir();
  if (nodedir) out.npm_config_nodedir = nodedir;
  return out;
}

/** node-gyp rebuild in the variant's folder; returns the binary it left in build/Release. */
export function gypRebuild(variant) {
  const gyp = nodeGypPath();
  if (!gyp) throw new Error('node-gyp not found (npm bundles it; or npm install node-gyp); scripts/build.mjs builds without it');
  if (!VARIANT_DIRS[variant]) throw new Error(`variant must be cpu or cuda, got ${variant}`);
  const { root } = VARIANT_DIRS[variant];
  const args = /\.[cm]?js$/.test(gyp) ? [gyp] : [];
  const cmd = args.length ? process.execPath : gyp;
  args.push('rebuild', '--release');
  process.stderr.write(`hexa-torch: node-gyp rebuild in ${root} (binding.gyp runs cmake-js)\n`);
  // HEXA_TORCH_VARIANT decides what the top-level binding.gyp's 'auto' variant builds.
  const env = nodeGypEnv({ ...process.env, HEXA_TORCH_VARIANT: variant });
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env });
  if (r.status !== 0) throw new Error(`node-gyp rebuild failed (exit ${r.status ?? r.signal}); see its output above`);
  const binary = path.join(root, 'build', 'Release', 'hexa_torch.node');
  if (!fs.existsSync(binary)) throw new Error(`node-gyp rebuild succeeded but left no ${binary}`);
  return binary;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { variant: { type: 'string', default: 'cpu' } } });
  try {
    gypRebuild(values.variant);
  } catch (e) {
    process.stderr.write(`hexa-torch: ${e.message}\n`);
    process.exit(1);
  }
}
