// MNIST-style datasets from idx files: images idx3-ubyte [N, H, W], labels idx1-ubyte [N].
// Works for MNIST, Fashion-MNIST, KMNIST and others of that format (give classes for them).
import type { ImageDataset } from './index.js';
import { checkClassNames } from './array-dataset.js';
import { readIdx } from './idx.js';
import { MemoryDataset } from './memory-dataset.js';
import { checkOptions, checkString } from './validate.js';

export { readIdx } from './idx.js';
export type { IdxArray } from './idx.js';

export interface MnistOptions {
  /** Path of the images file (idx3-ubyte, e.g. train-images-idx3-ubyte or its .gz). Required. */
  images: string;
  /** Path of the labels file (idx1-ubyte, e.g. train-labels-idx1-ubyte[.gz]); omit for unlabeled. */
  labels?: string;
  /** Class names; default the digits '0' .. '9'. Every label must be < classes.length. */
  classes?: string[];
  /** Default 'mnist'. */
  name?: string;
}

const DIGITS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

/** An idx image (and label) file pair as an ImageDataset: 1xHxW uint8 (28x28 for MNIST). */
export async function loadMnist(options: MnistOptions): Promise<ImageDataset> {
  const where = 'loadMnist';
  if (options === undefined) throw new TypeError(`${where}: options must be an options object { images, labels }, got undefined`);
  const o = checkOptions<MnistOptions>(where, 'options', options);
  const imagesPath = checkString(where, 'options.images', o.images);
  const labelsPath = o.labels === undefined ? undefined : checkString(where, 'options.labels', o.labels);
  const classes = labelsPath === undefined ? null : o.classes === undefined ? DIGITS : checkClassNames(where, o.classes);
  const name = o.name === undefined ? 'mnist' : checkString(where, 'options.name', o.name);

  const [images, labels] = await Promise.all([readIdx(imagesPath), labelsPath === undefined ? null : readIdx(labelsPath)]);
  if (images.dtype !== 'uint8' || images.dims.length !== 3) {
    throw new Error(`${where}: ${imagesPath} must be an idx3-ubyte images file (uint8 [N, H, W]), got ${images.dtype} [${images.dims}]`);
  }
  const [size, height, width] = images.dims;
  if (size === 0 || height === 0 || width === 0) throw new Error(`${where}: ${imagesPath} holds no images (dimensions [${images.dims}])`);
  let labelOf: (i: number) => number = () => -1;
  if (labels !== null && classes !== null) {
    if (labels.dtype !== 'uint8' || labels.dims.length !== 1) {
      throw new Error(`${where}: ${labelsPath} must be an idx1-ubyte labels file (uint8 [N]), got ${labels.dtype} [${labels.dims}]`);
    }
    if (labels.dims[0] !== size) throw new Error(`${where}: ${labelsPath} has ${labels.dims[0]} labels but ${imagesPath} has ${size} images`);
    const values = labels.data as Uint8Array;
    const bad = values.findIndex((v) => v >= classes.length);
    if (bad >= 0) throw new Error(`${where}: ${labelsPath} label ${bad} is ${values[bad]}, outside [0, ${classes.length - 1}] (one per class)`);
    labelOf = (i) => values[i];
  }
  const pixels = images.data as Uint8Array;
  const bytes = height * width;
  return new MemoryDataset({ name, size, channels: 1, height, width, classes }, (i) => ({ buffer: pixels, offset: i * bytes }), labelOf);
}
