// A folder of JPEG/PNG/WebP files as an ImageDataset, decoded on demand with sharp.
//
// Choices (docs/data.md says the same for users):
// * Files are listed once, at load; images are decoded lazily, when a batch asks for them,
//   at most `concurrency` at once on libuv's thread pool (never on the main thread).
// * A file that cannot be read or decoded is reported once (onWarning, default console.warn)
//   and skipped for good: its index stays (size and epoch orders never change mid-run) but
//   reads of it return the next good image in listing order (wrapping), label included.
//   validate: 'headers' instead checks every file's header at load and leaves bad ones out
//   of the index; data corrupt past a valid header is still caught lazily.
// * Every image comes out 3 x H x W RGB: EXIF orientation applied, alpha flattened onto
//   black, grayscale repeated into 3 channels, resized by fit 'cover' (shorter side to the
//   size, centre crop) or 'fill' (stretched).
// * cacheBytes > 0 keeps decoded images in memory, first come first kept until the budget
//   is spent (with shuffled epochs an evicting cache would hit no more often).
import { stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import type { BatchOptions, ImageBatch, ImageDataset } from './index.js';
import { decodeImage, type Fit, loadSharp, probeImage } from './decode.js';
import { type Found, IMAGE_EXTENSIONS, openPath, scanImageFolder } from './folder-scan.js';
import { Limiter } from './limiter.js';
import { checkChoice, checkIndices, checkInteger, checkOptions, checkString, typeError } from './validate.js';

/** Something wrong with one file or folder that did not stop loading. */
export interface DataWarning {
  /** The file (or folder) concerned. */
  path: string;
  /** What is wrong and what was done about it. */
  reason: string;
}

export interface ImageFolderOptions {
  /** Output size: a number for square images or [height, width]. Required. */
  size: number | [number, number];
  /**
   * 'subfolders' (default): each sub-folder of dir is a class (sorted names, label = position),
   * its images at any depth below it; 'none': every image under dir, unlabeled.
   */
  classes?: 'subfolders' | 'none';
  /** 'cover' (default): scale the shorter side to the size and crop the centre; 'fill': stretch. */
  fit?: Fit;
  /** 'lazy' (default): find bad files when first decoded; 'headers': check every header at load. */
  validate?: 'lazy' | 'headers';
  /**
   * Decodes (and header checks) in flight at once, each on a thread of libuv's pool. Default:
   * the pool's size (UV_THREADPOOL_SIZE, else 4) minus 1, leaving a thread for file-system
   * calls (checkpoint and metrics writes), which share that pool. (Tensor ops do not: they run
   * on the compute thread.)
   */
  concurrency?: number;
  /** Bytes of decoded images to keep in memory (first come, first kept). Default 0: none. */
  cacheBytes?: number;
  /** Called once per bad file or ignored folder content. Default: console.warn. */
  onWarning?: (warning: DataWarning) => void;
  /** Default: the folder's name. */
  name?: string;
}

export interface ImageFolderDataset extends ImageDataset {
  /** The folder, as an absolute path. */
  readonly root: string;
  /** The image files by index. */
  readonly files: readonly string[];
  /** The files found bad so far (each also reported once through onWarning). */
  readonly skipped: readonly DataWarning[];
}

const where = 'loadImageFolder';

/**
 * Lists the images under dir and returns a dataset that decodes them on demand to
 * uint8 [3, height, width]. A missing folder, or one without images, is an Error naming it.
 */
export async function loadImageFolder(dir: string, options: ImageFolderOptions): Promise<ImageFolderDataset> {
  checkString(where, 'dir', dir);
  if (options === undefined) throw typeError(where, 'options', 'an options object with size', options);
  const o = checkOptions<ImageFolderOptions>(where, 'options', options);
  const [height, width] = checkSize(o.size);
  const classMode = o.classes === undefined ? 'subfolders' : checkChoice(where, 'options.classes', o.classes, ['subfolders', 'none'] as const);
  const fit = o.fit === undefined ? 'cover' : checkChoice(where, 'options.fit', o.fit, ['cover', 'fill'] as const);
  const validate = o.validate === undefined ? 'lazy' : checkChoice(where, 'options.validate', o.validate, ['lazy', 'headers'] as const);
  const concurrency = o.concurrency === undefined ? defaultConcurrency() : checkInteger(where, 'options.concurrency', o.concurrency, 1, 1024);
  const cacheBytes = o.cacheBytes === undefined ? 0 : checkInteger(where, 'options.cacheBytes', o.cacheBytes, 0);
  if (o.onWarning !== undefined && typeof o.onWarning !== 'function') throw typeError(where, 'options.onWarning', 'a function', o.onWarning);
  const warn = o.onWarning ?? ((w: DataWarning) => console.warn(`hexa-torch data: ${w.path}: ${w.reason}`));
  const root = resolve(dir);
  const name = o.name === undefined ? basename(root) : checkString(where, 'options.name', o.name);

  const s = await stat(root).catch(() => null);
  if (!s) throw new Error(`${where}: the folder ${root} does not exist`);
  if (!s.isDirectory()) throw new Error(`${where}: ${root} is not a folder`);
  const sharp = await loadSharp(where);

  let listing = await listImages(root, classMode, warn);
  const limiter = new Limiter(concurrency);
  const badAtLoad: DataWarning[] = [];
  if (validate === 'headers') {
    const ok = await Promise.all(
      listing.files.map((file) =>
        limiter.run(() => probeImage(sharp, openPath(file))).then(
          () => true,
          (e: Error) => {
            const w = { path: file.path, reason: `unreadable image header (${oneLine(e)}); left out of the dataset` };
            badAtLoad.push(w);
            warn(w);
            return false;
          },
        ),
      ),
    );
    listing = { ...listing, files: listing.files.filter((_, i) => ok[i]), labels: listing.labels.filter((_, i) => ok[i]) };
    if (listing.files.length === 0) throw new Error(`${where}: no readable images in ${root} (all ${ok.length} failed their header check)`);
  }
  return new FolderDataset({ name, root, height, width, fit, ...listing, limiter, cacheBytes, warn, decode: (f) => decodeImage(sharp, openPath(f), height, width, fit), skipped: badAtLoad });
}

function defaultConcurrency(): number {
  const pool = Number.parseInt(process.env.UV_THREADPOOL_SIZE ?? '', 10);
  return Math.max(1, (Number.isInteger(pool) && pool > 0 ? Math.min(pool, 1024) : 4) - 1);
}

function checkSize(size: unknown): [number, number] {
  if (typeof size === 'number') {
    const side = checkInteger(where, 'options.size', size, 1, 65535);
    return [side, side];
  }
  if (Array.isArray(size) && size.length === 2) {
    return [checkInteger(where, 'options.size[0] (height)', size[0], 1, 65535), checkInteger(where, 'options.size[1] (width)', size[1], 1, 65535)];
  }
  throw typeError(where, 'options.size', 'a positive integer or [height, width]', size);
}

interface Listing {
  files: Found[];
  labels: number[];
  classes: string[] | null;
}

async function listImages(root: string, classMode: 'subfolders' | 'none', warn: (w: DataWarning) => void): Promise<Listing> {
  const scan = await scanImageFolder(root, classMode, warn);
  const { files, labels, classes } = scan;
  if (classes === null) {
    if (files.length === 0) throw new Error(`${where}: no images (${IMAGE_EXTENSIONS.join(', ')}) in ${root} or its subfolders`);
    return { files, labels, classes };
  }
  if (classes.length === 0) {
    throw new Error(`${where}: ${root} has no class subfolders (with classes: 'subfolders' each class is a folder of images; use classes: 'none' for a flat folder)`);
  }
  if (scan.looseImages > 0) {
    warn({ path: root, reason: `${scan.looseImages} image file(s) directly in the folder are ignored: with classes: 'subfolders' images belong in class subfolders` });
  }
  for (const folder of scan.emptyClasses) warn({ path: folder.path, reason: `class '${basename(folder.path)}' has no images (kept, so labels stay the same)` });
  if (files.length === 0) throw new Error(`${where}: no images (${IMAGE_EXTENSIONS.join(', ')}) in the class subfolders of ${root}`);
  return { files, labels, classes };
}

function oneLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n').filter((l) => l.trim()).join('; ');
}

interface FolderParts extends Listing {
  name: string;
  root: string;
  height: number;
  width: number;
  fit: Fit;
  limiter: Limiter;
  cacheBytes: number;
  warn: (w: DataWarning) => void;
  decode: (file: Found) => Promise<Uint8Array>;
  skipped: DataWarning[];
}

class FolderDataset implements ImageFolderDataset {
  readonly name: string;
  readonly size: number;
  readonly channels = 3;
  readonly height: number;
  readonly width: number;
  readonly classes: string[] | null;
  readonly root: string;
  readonly files: readonly string[];
  private readonly labels: Int32Array;
  private readonly bad = new Set<number>();
  private readonly badList: DataWarning[];
  private readonly decoding = new Map<number, Promise<Uint8Array | null>>();
  private readonly cache = new Map<number, Uint8Array>();
  private cacheLeft: number;

  constructor(private readonly parts: FolderParts) {
    ({ name: this.name, root: this.root, height: this.height, width: this.width } = parts);
    this.files = Object.freeze(parts.files.map((f) => f.path));
    this.size = parts.files.length;
    this.labels = Int32Array.from(parts.labels);
    this.classes = parts.classes === null ? null : Object.freeze([...parts.classes]) as string[];
    this.badList = parts.skipped;
    this.cacheLeft = parts.cacheBytes;
  }

  get skipped(): readonly DataWarning[] {
    return [...this.badList];
  }

  async batch(indices: ArrayLike<number>, options?: BatchOptions): Promise<ImageBatch> {
    const list = checkIndices(`${this.name}.batch`, indices, this.size);
    const signal = options?.signal;
    signal?.throwIfAborted();
    const bytes = 3 * this.height * this.width;
    const images = new Uint8Array(list.length * bytes);
    const labels = new Int32Array(list.length);
    await Promise.all(
      Array.from(list, async (i, k) => {
        const { pixels, index } = await this.imageOrNextGood(i, signal);
        images.set(pixels, k * bytes);
        labels[k] = this.labels[index];
      }),
    );
    return { images, labels, shape: [list.length, 3, this.height, this.width] };
  }

  /** Image i, or when i is bad the next good one after it (wrapping), and whose it is. */
  private async imageOrNextGood(i: number, signal?: AbortSignal): Promise<{ pixels: Uint8Array; index: number }> {
    for (let step = 0; step < this.size; step++) {
      const j = (i + step) % this.size;
      if (this.bad.has(j)) continue;
      let pixels: Uint8Array | null;
      try {
        pixels = await this.image(j, signal);
      } catch (e) {
        if (signal?.aborted) throw e;
        // Another batch's decode of j that we joined was stopped before it started: decode it
        // for ourselves.
        step--;
        continue;
      }
      if (pixels) return { pixels, index: j };
    }
    throw new Error(`${this.name}: none of the ${this.size} images in ${this.root} can be decoded (each was reported)`);
  }

  /** Image j decoded (null when it is bad); concurrent asks for one image share its decode. */
  private image(j: number, signal?: AbortSignal): Promise<Uint8Array | null> {
    const cached = this.cache.get(j);
    if (cached) return Promise.resolve(cached);
    let pending = this.decoding.get(j);
    if (pending) return pending;
    const file = this.parts.files[j];
    pending = this.parts.limiter
      .run(() => this.parts.decode(file), signal)
      .then(
        (pixels) => {
          if (pixels.length <= this.cacheLeft) {
            this.cache.set(j, pixels);
            this.cacheLeft -= pixels.length;
          }
          return pixels;
        },
        (e: unknown) => {
          if (signal?.aborted) throw e; // stopped, not bad: it is decoded next time
          this.markBad(j, `cannot be read or decoded (${oneLine(e)}); skipped: batches take the next good image instead`);
          return null;
        },
      )
      .finally(() => this.decoding.delete(j));
    this.decoding.set(j, pending);
    return pending;
  }

  private markBad(j: number, reason: string): void {
    if (this.bad.has(j)) return;
    this.bad.add(j);
    const w = { path: this.files[j], reason };
    this.badList.push(w);
    try {
      this.parts.warn(w);
    } catch {
      // A throwing warning handler must not turn a skipped file into a failed batch.
    }
  }
}

