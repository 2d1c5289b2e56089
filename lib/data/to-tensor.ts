// Host batches to hexa Tensors.
import { keep, tensor, Tensor } from '../tensor.js';
import type { ImageBatch } from './index.js';
import { typeError } from './validate.js';

/** A batch as CPU Tensors. */
export interface TensorBatch {
  /** uint8 [n, C, H, W]. */
  images: Tensor;
  /** int64 [n]; -1 for unlabeled images. */
  labels: Tensor;
}

/**
 * CPU Tensors holding copies of a batch: images uint8 [n, C, H, W], labels int64 [n] (the
 * dtype LibTorch's losses take). Like every Tensor they belong to the enclosing scope(), or
 * with `{ keep: true }` to the caller, who disposes them. Moving to a GPU is the trainer's
 * step (`await images.to('cuda')`), so the copy can overlap other work.
 */
export function toTensor(batch: ImageBatch, options?: { keep?: boolean }): TensorBatch {
  const where = 'toTensor';
  if (batch === null || typeof batch !== 'object') throw typeError(where, 'batch', 'an ImageBatch { images, labels, shape }', batch);
  const { images, labels, shape } = batch;
  if (!(images instanceof Uint8Array)) throw typeError(where, 'batch.images', 'a Uint8Array', images);
  if (!(labels instanceof Int32Array)) throw typeError(where, 'batch.labels', 'an Int32Array', labels);
  if (!Array.isArray(shape) || shape.length !== 4 || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw typeError(where, 'batch.shape', 'an array [n, C, H, W] of non-negative integers', shape);
  }
  const [n, c, h, w] = shape;
  if (images.length !== n * c * h * w) {
    throw new RangeError(`${where}: batch.images has ${images.length} bytes but batch.shape [${shape}] needs ${n * c * h * w}`);
  }
  if (labels.length !== n) throw new RangeError(`${where}: batch.labels has ${labels.length} entries but batch.shape says n = ${n}`);
  const imageTensor = tensor(images, [n, c, h, w]);
  let labelTensor: Tensor;
  try {
    labelTensor = tensor(labels, [n], 'int64');
  } catch (e) {
    imageTensor.dispose();
    throw e;
  }
  if (options?.keep) {
    keep(imageTensor);
    keep(labelTensor);
  }
  return { images: imageTensor, labels: labelTensor };
}
