// Gloo's headers, for the Gloo backend of data-parallel training (native/dist/backend_gloo.cpp).
// LibTorch's wheels ship c10d's headers and gloo's compiled code (inside libtorch_cpu) but not
// gloo's own headers, which ProcessGroupGloo.hpp includes. Debian's libgloo-dev has them (a
// 50 KB package): `apt-get download` + `dpkg-deb -x` need no root. They are cached under the
// LibTorch cache and linked into vendor/gloo/include, where CMakeLists.txt looks; a build
// without them works single-process and says why multi-process training is unavailable.
// HEXA_GLOO_INCLUDE: a folder holding gloo/config.h to use instead (no download).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cacheRoot, PACKAGE_ROOT } from './libtorch.mjs';

/** Where CMakeLists.txt looks for gloo's headers. */
export const VENDOR_GLOO = path.join(PACKAGE_ROOT, 'vendor', 'gloo', 'include');
const PACKAGE = 'libgloo-dev';

const hasHeaders = (dir) => fs.existsSync(path.join(dir, 'gloo', 'config.h'));

function log(msg) {
  process.stderr.write(`hexa-torch: ${msg}\n`);
}

/** Downloads libgloo-dev and unpacks its headers into `target`; returns an error message or null. */
function fetchInto(target) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hexa-gloo-'));
  try {
    const dl = spawnSync('apt-get', ['download', PACKAGE], { cwd: tmp, encoding: 'utf8', timeout: 120_000 });
    if (dl.error || dl.status !== 0) return `apt-get download ${PACKAGE} failed: ${(dl.error?.message ?? dl.stderr ?? '').trim().split('\n').pop()}`;
    const deb = fs.readdirSync(tmp).find((f) => f.endsWith('.deb'));
    if (!deb) return `apt-get download ${PACKAGE} gave no .deb`;
    const x = spawnSync('dpkg-deb', ['-x', deb, 'x'], { cwd: tmp, encoding: 'utf8', timeout: 60_000 });
    if (x.error || x.status !== 0) return `dpkg-deb -x ${deb} failed: ${(x.error?.message ?? x.stderr ?? '').trim()}`;
    const include = path.join(tmp, 'x', 'usr', 'include');
    if (!hasHeaders(include)) return `${deb} holds no gloo/config.h`;
    fs.mkdirSync(path.dirname(target), { recursive: true });
    const partial = `${target}.partial-${process.pid}`;
    fs.rmSync(partial, { recursive: true, force: true });
    fs.cpSync(include, partial, { recursive: true });
    fs.rmSync(target, { recursive: true, force: true });
    fs.renameSync(partial, target);
    log(`gloo headers from ${deb} cached in ${target}`);
    return null;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * Makes vendor/gloo/include hold gloo's headers (HEXA_GLOO_INCLUDE, else the cache, else a
 * download into the cache). Returns the folder, or null with the reason logged: never fails
 * the install, since single-process training does not need them.
 */
export function ensureGlooHeaders() {
  let source = process.env.HEXA_GLOO_INCLUDE;
  if (source && !hasHeaders(source)) {
    log(`HEXA_GLOO_INCLUDE=${source} holds no gloo/config.h; multi-process training will be unavailable`);
    return null;
  }
  if (!source) {
    source = path.join(cacheRoot(), 'gloo-headers', 'include');
    if (!hasHeaders(source)) {
      const error = fetchInto(source);
      if (error) {
        log(`no gloo headers (${error}): this build will train single-process only (see docs/distributed.md)`);
        return null;
      }
    }
  }
  if (path.resolve(source) !== VENDOR_GLOO) {
    fs.rmSync(VENDOR_GLOO, { recursive: true, force: true });
    fs.mkdirSync(path.dirname(VENDOR_GLOO), { recursive: true });
    fs.symlinkSync(path.resolve(source), VENDOR_GLOO, 'dir');
  }
  return VENDOR_GLOO;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exit(ensureGlooHeaders() ? 0 : 1);
}
