// Decoding one image file to CHW uint8 RGB of a fixed size, with sharp (libvips). sharp is an
// optional dependency: it is imported on first use so the package loads without it.
import { readFile } from 'node:fs/promises';
import type SharpNs from 'sharp';

type SharpFactory = typeof SharpNs;
let sharpLoading: Promise<SharpFactory> | null = null;

/** The sharp module (an Error saying how to install it when it is missing). */
export function loadSharp(where: string): Promise<SharpFactory> {
  sharpLoading ??= import('sharp').then(
    (m) => ((m as { default?: SharpFactory }).default ?? (m as unknown as SharpFactory)),
    (e: Error) => {
      sharpLoading = null;
      throw new Error(`${where} needs the optional dependency sharp to decode images (npm install sharp): ${e.message}`);
    },
  );
  return sharpLoading;
}

/** 'cover': scale so the shorter side fits, then crop the centre; 'fill': stretch to the size. */
export type Fit = 'cover' | 'fill';

/**
 * Decodes, orients (EXIF), flattens alpha onto black, converts to 8-bit sRGB (grayscale is
 * repeated into 3 channels, 16-bit is scaled down), resizes and returns [3, height, width]
 * uint8. A truncated or corrupt file rejects. Runs on libuv's thread pool, off the main thread.
 */
export async function decodeImage(sharp: SharpFactory, path: string | Buffer, height: number, width: number, fit: Fit): Promise<Uint8Array> {
  const { data, info } = await sharp(await sharpInput(path), { failOn: 'truncated', autoOrient: true })
    .flatten({ background: { r: 0, g: 0, b: 0 } })
    .toColourspace('srgb')
    .resize({ width, height, fit, position: 'centre' })
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || info.width !== width || info.height !== height || data.length !== 3 * height * width) {
    throw new Error(`decoded to ${info.width}x${info.height} with ${info.channels} channels, expected ${width}x${height} with 3`);
  }
  return hwcToChw(data, height * width);
}

/** Interleaved RGBRGB... to planes RR..GG..BB.. */
function hwcToChw(hwc: Uint8Array, pixels: number): Uint8Array {
  const chw = new Uint8Array(3 * pixels);
  for (let p = 0, q = 0; p < pixels; p++, q += 3) {
    chw[p] = hwc[q];
    chw[pixels + p] = hwc[q + 1];
    chw[2 * pixels + p] = hwc[q + 2];
  }
  return chw;
}

/** Reads only the header: format and size (for validate: 'headers'). Rejects when unreadable. */
export async function probeImage(sharp: SharpFactory, path: string | Buffer): Promise<void> {
  const meta = await sharp(await sharpInput(path)).metadata();
  if (!meta.width || !meta.height) throw new Error('the header holds no image size');
}

/**
 * What sharp opens: a path as a string, or, for a path given as bytes (a file name that is not
 * valid UTF-8, which no JS string can name), the file's contents (sharp takes a Buffer as data).
 */
async function sharpInput(path: string | Buffer): Promise<string | Buffer> {
  return typeof path === 'string' ? path : readFile(path);
}
