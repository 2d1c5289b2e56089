// A dataset over images already in memory: synthetic data, data decoded elsewhere, tests.
import type { ImageDataset } from './index.js';
import { MemoryDataset } from './memory-dataset.js';
import { checkInteger, checkOptions, checkString, rangeError, typeError } from './validate.js';

export interface ArrayDatasetSource {
  /** All images, [N, C, H, W] row-major uint8. Held by reference, not copied: don't change it. */
  images: Uint8Array;
  /** [C, H, W] of one image. */
  shape: [number, number, number];
  /** N class indices, each in [0, classes.length); omit (or null) for an unlabeled dataset. */
  labels?: ArrayLike<number> | null;
  /** Class names; default '0', '1', ... up to the largest label (null when unlabeled). */
  classes?: string[] | null;
  /** Default 'arrays'. */
  name?: string;
}

/** An ImageDataset over images (and labels) already in memory. */
export function fromArrays(source: ArrayDatasetSource): ImageDataset {
  const where = 'fromArrays';
  if (source === null || typeof source !== 'object') throw typeError(where, 'source', 'an object', source);
  const s = checkOptions<ArrayDatasetSource>(where, 'source', source);
  const name = s.name === undefined ? 'arrays' : checkString(where, 'source.name', s.name);
  if (!(s.images instanceof Uint8Array)) throw typeError(where, 'source.images', 'a Uint8Array', s.images);
  if (!Array.isArray(s.shape) || s.shape.length !== 3) throw typeError(where, 'source.shape', 'an array [C, H, W]', s.shape);
  const [channels, height, width] = s.shape.map((d, k) => checkInteger(where, `source.shape[${k}]`, d, 1));
  const bytes = channels * height * width;
  if (s.images.length === 0 || s.images.length % bytes !== 0) {
    throw new RangeError(
      `${where}: source.images must hold a non-empty whole number of ${channels}x${height}x${width} images (a multiple of ${bytes} bytes), got ${s.images.length} bytes`,
    );
  }
  const size = s.images.length / bytes;

  let labels: Int32Array | null = null;
  let classes: string[] | null = null;
  if (s.labels !== undefined && s.labels !== null) {
    const given = s.labels;
    if (typeof given !== 'object' || typeof given.length !== 'number') throw typeError(where, 'source.labels', 'an array or typed array', given);
    if (given.length !== size) throw rangeError(where, 'source.labels', `${size} labels (one per image)`, given);
    labels = new Int32Array(size);
    for (let i = 0; i < size; i++) labels[i] = checkInteger(where, `source.labels[${i}]`, given[i], 0, 2 ** 31 - 1);
    const largest = labels.reduce((a, b) => Math.max(a, b), 0);
    if (s.classes === undefined || s.classes === null) {
      classes = Array.from({ length: largest + 1 }, (_, k) => String(k));
    } else {
      classes = checkClassNames(where, s.classes);
      if (largest >= classes.length) throw rangeError(where, 'source.labels', `labels in [0, ${classes.length - 1}] (one per class)`, largest);
    }
  } else if (s.classes !== undefined && s.classes !== null) {
    throw typeError(where, 'source.classes', 'null or absent when there are no labels', s.classes);
  }

  const images = s.images;
  return new MemoryDataset(
    { name, size, channels, height, width, classes },
    (i) => ({ buffer: images, offset: i * bytes }),
    labels ? (i) => labels[i] : () => -1,
  );
}

export function checkClassNames(where: string, classes: unknown): string[] {
  if (!Array.isArray(classes) || classes.length === 0) throw typeError(where, 'classes', 'a non-empty array of strings', classes);
  classes.forEach((c, k) => checkString(where, `classes[${k}]`, c));
  return [...(classes as string[])];
}
