// A tiny labelled MNIST-format dataset written as idx files (train and t10k): each class is a
// bright square at its own place on noise, so a network can tell the classes apart.
import fs from 'node:fs';
import path from 'node:path';
import { idx } from '../support/idx.js';

/** Writes `<dir>/{train,t10k}-{images-idx3,labels-idx1}-ubyte`; returns the data spec 'mnist:<dir>'. */
export function writeSyntheticMnist(dir: string, trainCount: number, testCount: number, classes = 4, side = 16): string {
  fs.mkdirSync(dir, { recursive: true });
  let state = 12345;
  const rand = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) >>> 16) & 0xff;
  for (const [prefix, n] of [['train', trainCount], ['t10k', testCount]] as const) {
    const pixels = new Uint8Array(n * side * side);
    const labels = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const c = i % classes;
      labels[i] = c;
      for (let p = 0; p < side * side; p++) pixels[i * side * side + p] = rand() >> 2;
      const y0 = 2 + (c % 2) * (side / 2 - 1);
      const x0 = 2 + (Math.floor(c / 2) % 2) * (side / 2 - 1);
      for (let y = y0; y < y0 + side / 4; y++) for (let x = x0; x < x0 + side / 4; x++) pixels[i * side * side + y * side + x] = 230;
    }
    fs.writeFileSync(path.join(dir, `${prefix}-images-idx3-ubyte`), idx(0x08, [n, side, side], pixels));
    fs.writeFileSync(path.join(dir, `${prefix}-labels-idx1-ubyte`), idx(0x08, [n], labels));
  }
  return `mnist:${dir}`;
}
