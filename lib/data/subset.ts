// The first `count` images of a dataset, as a dataset (for short runs and quick evaluations).
import type { BatchOptions, ImageDataset } from './index.js';
import { checkInteger } from './validate.js';

export function subset(dataset: ImageDataset, count: number): ImageDataset {
  const n = checkInteger('subset', 'count', count, 1);
  if (n >= dataset.size) return dataset;
  return {
    name: `${dataset.name}[0:${n}]`,
    size: n,
    channels: dataset.channels,
    height: dataset.height,
    width: dataset.width,
    classes: dataset.classes,
    batch(indices: ArrayLike<number>, options?: BatchOptions) {
      for (let i = 0; i < indices.length; i++) {
        const v = indices[i];
        if (!Number.isInteger(v) || v < 0 || v >= n) throw new RangeError(`subset.batch: indices[${i}] must be an integer in [0, ${n}), got ${v}`);
      }
      return dataset.batch(indices, options);
    },
  };
}
