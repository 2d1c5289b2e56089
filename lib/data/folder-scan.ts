// Listing the images of a folder tree, in an order that is the same on every machine (sorted
// by code point, not by locale), so index i means the same file everywhere.
import { readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';

export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp'];

function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function isImageName(name: string): boolean {
  return IMAGE_EXTENSIONS.includes(extname(name).toLowerCase());
}

interface Entries {
  files: string[];
  folders: string[];
}

/** The visible (not dot-named) files and folders directly in dir, sorted; links followed. */
export async function listFolder(dir: string): Promise<Entries> {
  const entries = await readdir(dir, { withFileTypes: true });
  const out: Entries = { files: [], folders: [] };
  for (const e of entries.sort((a, b) => byCodePoint(a.name, b.name))) {
    if (e.name.startsWith('.')) continue;
    const path = join(dir, e.name);
    let isDir = e.isDirectory();
    let isFile = e.isFile();
    if (e.isSymbolicLink()) {
      const s = await stat(path).catch(() => null); // a dangling link is no file
      isDir = s?.isDirectory() ?? false;
      isFile = s?.isFile() ?? false;
    }
    if (isDir) out.folders.push(path);
    else if (isFile) out.files.push(path);
  }
  return out;
}

/** Every image file under dir (all depths): a folder's own files first, then its subfolders', each sorted. */
export async function listImagesDeep(dir: string): Promise<string[]> {
  const { files, folders } = await listFolder(dir);
  const images = files.filter(isImageName);
  for (const folder of folders) images.push(...(await listImagesDeep(folder)));
  return images;
}
