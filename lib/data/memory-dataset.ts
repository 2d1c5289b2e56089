// The shared core of datasets whose images are all in memory (CIFAR-10, MNIST, fromArrays):
// a batch is one allocation and one byte copy per image from wherever the image lies.
import type { BatchOptions, ImageBatch, ImageDataset } from './index.js';
import { checkIndices } from './validate.js';

/** What describes a dataset apart from its images: ImageDataset's fields. */
export type DatasetShape = Pick<ImageDataset, 'name' | 'size' | 'channels' | 'height' | 'width' | 'classes'>;

/** Where image i's C*H*W bytes are: a buffer and a byte offset in it. */
export type ImageLocator = (i: number) => { buffer: Uint8Array; offset: number };

export class MemoryDataset implements ImageDataset {
  readonly name: string;
  readonly size: number;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  readonly classes: string[] | null;

  constructor(
    shape: DatasetShape,
    private readonly locate: ImageLocator,
    private readonly labelOf: (i: number) => number,
  ) {
    ({ name: this.name, size: this.size, channels: this.channels, height: this.height, width: this.width } = shape);
    this.classes = shape.classes === null ? null : [...shape.classes];
    Object.freeze(this.classes);
  }

  async batch(indices: ArrayLike<number>, options?: BatchOptions): Promise<ImageBatch> {
    const list = checkIndices(`${this.name}.batch`, indices, this.size);
    options?.signal?.throwIfAborted();
    const bytes = this.channels * this.height * this.width;
    const images = new Uint8Array(list.length * bytes);
    const labels = new Int32Array(list.length);
    for (let k = 0; k < list.length; k++) {
      const { buffer, offset } = this.locate(list[k]);
      images.set(buffer.subarray(offset, offset + bytes), k * bytes);
      labels[k] = this.labelOf(list[k]);
    }
    return { images, labels, shape: [list.length, this.channels, this.height, this.width] };
  }
}
