// Packs CIFAR-10 binary files losslessly for a device machine with a 64 MiB transfer limit:
// each file's 10000 images as one 3200x3200 lossless WebP (17 MB instead of 30.7) and its
// labels as raw bytes. scripts/gpu/decode_cifar.py rebuilds the exact files there (the loader
// checks their MD5s).  node scripts/gpu/pack-cifar.mjs <out dir> <file.bin>...
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import sharp from 'sharp';

const [outDir, ...names] = process.argv.slice(2);
const src = path.join(path.dirname(createRequire(import.meta.url).resolve('cifar-10/package.json')), 'cifar-10-batches-bin22');
const N = 10000, GRID = 100, RECORD = 3073;
for (const name of names) {
  const bin = fs.readFileSync(path.join(src, name));
  const side = GRID * 32;
  const rgb = Buffer.alloc(side * side * 3);
  const labels = Buffer.alloc(N);
  for (let i = 0; i < N; i++) {
    const r = bin.subarray(i * RECORD, (i + 1) * RECORD);
    labels[i] = r[0];
    const gx = (i % GRID) * 32, gy = Math.floor(i / GRID) * 32;
    for (let c = 0; c < 3; c++) for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) rgb[((gy + y) * side + gx + x) * 3 + c] = r[1 + c * 1024 + y * 32 + x];
  }
  const webp = await sharp(rgb, { raw: { width: side, height: side, channels: 3 } }).webp({ lossless: true, effort: 4 }).toBuffer();
  const back = await sharp(webp).raw().toBuffer();
  if (!back.equals(rgb)) throw new Error(`${name}: the WebP round trip is not lossless`);
  const stem = path.join(outDir, name.replace(/\.bin$/, ''));
  fs.writeFileSync(`${stem}.webp`, webp);
  fs.writeFileSync(`${stem}.labels`, labels);
  console.log(`${name}: ${(webp.length / 2 ** 20).toFixed(1)} MiB`);
}
