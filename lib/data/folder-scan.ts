// Listing the images of a folder tree, in an order that is the same on every machine (sorted
// by the bytes of the names, which for UTF-8 is code point order, not locale), so index i
// means the same file everywhere.
//
// Names are read as bytes: a name that is not valid UTF-8 cannot round-trip through a JS
// string, so such a file keeps its exact path as a Buffer (`bytes`) to be opened by, and a
// readable `path` (invalid bytes shown as U+FFFD) for messages.
//
// Links are followed, but every real folder is listed at most once and every real file at
// most once, each where it really lives, so a link can neither loop, nor duplicate images,
// nor move images into another class (each case is skipped with a warning):
// * a link to a folder inside the dataset folder is not followed (that folder is listed
//   where it is); nor is one to the dataset folder or a folder above it (a loop);
// * a folder reached a second time (two links to one folder outside the dataset, or a loop
//   outside it) is listed the first time only; so is a class folder reached from another class;
// * a link to a file that is listed itself, or a second link to one file, is left out.
// The walk is iterative: no depth of folders can overflow the stack.
import type { Dirent } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { extname } from 'node:path';

export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp'];

const SEP = Buffer.from('/');
const DOT = '.'.charCodeAt(0);

export function isImageName(name: string): boolean {
  return IMAGE_EXTENSIONS.includes(extname(name).toLowerCase());
}

/** A file or folder found by a scan. */
export interface Found {
  /** The path as text (invalid UTF-8 shown as U+FFFD): for messages and `dataset.files`. */
  path: string;
  /** The exact path when the name is not valid UTF-8 (open by this), else null (open `path`). */
  bytes: Buffer | null;
}

/** What to hand to fs (or sharp) to open a found file. */
export function openPath(f: Found): string | Buffer {
  return f.bytes ?? f.path;
}

export interface ScanWarning {
  path: string;
  reason: string;
}

export interface FolderListing {
  files: Found[];
  /** Per file: the class index, or -1 when unlabeled. */
  labels: number[];
  /** Class names (the class folders' names), or null when unlabeled. */
  classes: string[] | null;
  /** Image files directly in the root (ignored in 'subfolders' mode). */
  looseImages: number;
  /** Class folders with no images. */
  emptyClasses: Found[];
}

interface Entry {
  name: Buffer;
  path: Buffer;
  real: Buffer;
  isLink: boolean;
}

const key = (b: Buffer): string => b.toString('latin1'); // lossless: one char per byte
const text = (b: Buffer): string => b.toString('utf8');
const found = (b: Buffer): Found => {
  const path = text(b);
  return { path, bytes: Buffer.from(path, 'utf8').equals(b) ? null : b };
};
const join = (dir: Buffer, name: Buffer): Buffer => Buffer.concat([dir, SEP, name]);
/** Whether `inner` is `outer` or lies below it (both real, absolute). */
const within = (inner: string, outer: string): boolean => inner === outer || inner.startsWith(outer === '/' ? '/' : `${outer}/`);

/** The visible (not dot-named) files and folders directly in dir (real path dirReal), sorted by bytes. */
async function listDir(dir: Buffer, dirReal: Buffer): Promise<{ files: Entry[]; folders: Entry[] }> {
  const entries = (await readdir(dir, { withFileTypes: true, encoding: 'buffer' })) as unknown as Array<Dirent<Buffer>>;
  entries.sort((a, b) => Buffer.compare(a.name, b.name));
  const out = { files: [] as Entry[], folders: [] as Entry[] };
  for (const e of entries) {
    if (e.name[0] === DOT) continue;
    const path = join(dir, e.name);
    if (e.isSymbolicLink()) {
      const s = await stat(path).catch(() => null); // a dangling link is no file
      if (!s || (!s.isDirectory() && !s.isFile())) continue;
      const real = await realpath(path, { encoding: 'buffer' }).catch(() => null);
      if (!real) continue;
      (s.isDirectory() ? out.folders : out.files).push({ name: e.name, path, real, isLink: true });
    } else if (e.isDirectory() || e.isFile()) {
      (e.isDirectory() ? out.folders : out.files).push({ name: e.name, path, real: join(dirReal, e.name), isLink: false });
    }
  }
  return out;
}

interface Candidate {
  file: Found;
  real: string;
  isLink: boolean;
  label: number;
}

/**
 * Lists the images under root: with classes 'subfolders', each visible sub-folder of root is
 * a class (sorted, label = position) holding the images at any depth below it; with 'none',
 * every image under root, label -1. A folder's own files come first, then its sub-folders',
 * each sorted.
 */
export async function scanImageFolder(root: string, mode: 'subfolders' | 'none', warn: (w: ScanWarning) => void): Promise<FolderListing> {
  const rootBytes = Buffer.from(root, 'utf8');
  const rootReal = await realpath(rootBytes, { encoding: 'buffer' });
  const rootKey = key(rootReal);
  const visited = new Set<string>([rootKey]);
  const candidates: Candidate[] = [];
  let looseImages = 0;

  // The folders each class walk starts from, with their real paths.
  let starts: Array<{ dir: Entry; label: number }>;
  let classes: string[] | null = null;
  if (mode === 'none') {
    starts = [{ dir: { name: rootBytes, path: rootBytes, real: rootReal, isLink: false }, label: -1 }];
  } else {
    const top = await listDir(rootBytes, rootReal);
    looseImages = top.files.filter((f) => isImageName(text(f.name))).length;
    classes = top.folders.map((f) => text(f.name));
    starts = top.folders.map((dir, label) => ({ dir, label }));
  }
  const classOf = new Map<string, number>();
  for (const { dir, label } of starts) if (!classOf.has(key(dir.real)) || !dir.isLink) classOf.set(key(dir.real), label);

  for (const { dir: start, label } of starts) {
    const stack: Entry[] = [start];
    while (stack.length > 0) {
      const dir = stack.pop()!;
      const real = key(dir.real);
      const at = text(dir.path);
      if (dir !== start || mode === 'subfolders') { // (the root itself is visited already)
        const owner = classOf.get(real);
        let skip: string | null = null;
        if (within(rootKey, real)) skip = 'is the dataset folder or a folder above it (a loop)';
        else if (dir.isLink && within(real, rootKey) && dir !== start) skip = 'links to a folder inside the dataset, which is listed where it is';
        else if (owner !== undefined && owner !== label) skip = `is the folder of class '${classes![owner]}', whose images keep that label`;
        else if (visited.has(real)) skip = 'was listed already (a loop, or a second link to one folder)';
        if (skip !== null) {
          warn({ path: at, reason: `${skip}: not followed` });
          continue;
        }
        visited.add(real);
      }
      let listing: { files: Entry[]; folders: Entry[] };
      try {
        listing = await listDir(dir.path, dir.real);
      } catch (e) {
        if (dir === start && mode === 'none') throw e;
        warn({ path: at, reason: `cannot be listed (${(e as Error).message}): skipped` });
        continue;
      }
      for (const f of listing.files) {
        if (!isImageName(text(f.name))) continue;
        candidates.push({ file: found(f.path), real: key(f.real), isLink: f.isLink, label });
      }
      for (let i = listing.folders.length - 1; i >= 0; i--) stack.push(listing.folders[i]);
    }
  }

  // Every real file once, where it lives: a link to a listed file, or a second link to one
  // file, is left out.
  const listed = new Set(candidates.filter((c) => !c.isLink).map((c) => c.real));
  const kept: Candidate[] = [];
  for (const c of candidates) {
    if (c.isLink) {
      if (listed.has(c.real)) {
        warn({ path: c.file.path, reason: 'links to an image that is listed itself (or by another link): left out, so no image is listed twice' });
        continue;
      }
      listed.add(c.real);
    }
    kept.push(c);
  }
  const hasImages = new Set(kept.map((c) => c.label));
  const emptyClasses = mode === 'subfolders' ? starts.filter(({ label }) => !hasImages.has(label)).map(({ dir }) => found(dir.path)) : [];
  return { files: kept.map((c) => c.file), labels: kept.map((c) => c.label), classes, looseImages, emptyClasses };
}
