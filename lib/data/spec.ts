// A config's data spec to a dataset: 'cifar10', 'mnist:<folder>', or an image folder.
import fs from 'node:fs';
import path from 'node:path';
import { loadCifar10 } from './cifar10.js';
import type { ImageDataset } from './index.js';
import { loadImageFolder } from './image-folder.js';
import { loadMnist } from './mnist.js';

/**
 * Opens the split of a data spec; null when the source has no such split (an image folder has
 * no test split). `firstImages` (0 = all) lets a source skip reading what a subset run never uses.
 */
export async function openDataset(spec: string, split: 'train' | 'test', imageSize = 0, firstImages = 0): Promise<ImageDataset | null> {
  if (spec === 'cifar10') return loadCifar10({ split, firstImages });
  if (spec.startsWith('mnist:')) {
    const dir = spec.slice('mnist:'.length);
    const prefix = split === 'train' ? 'train' : 't10k';
    const find = (stem: string) => [`${stem}`, `${stem}.gz`].map((f) => path.join(dir, f)).find((f) => fs.existsSync(f));
    const images = find(`${prefix}-images-idx3-ubyte`);
    const labels = find(`${prefix}-labels-idx1-ubyte`);
    if (!images) {
      if (split === 'test') return null;
      throw new Error(`data: no ${prefix}-images-idx3-ubyte[.gz] in ${dir}`);
    }
    return loadMnist({ images, labels });
  }
  if (split === 'test') return null; // an image folder has no test split
  // Folder images are decoded straight to the training size (default 64 px); cache up to 2 GiB.
  return loadImageFolder(spec, { size: imageSize || 64, cacheBytes: 2 ** 31 });
}
