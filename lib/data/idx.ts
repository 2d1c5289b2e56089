// The idx file format (http://yann.lecun.com/exdb/mnist/): a 4-byte magic number (two zero
// bytes, a type byte, the number of dimensions), one big-endian uint32 per dimension, then the
// values in row-major order, big-endian. Files may be gzipped (recognised by their first bytes).
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';

const gunzipAsync = promisify(gunzip);

const TYPES = {
  0x08: { dtype: 'uint8', bytes: 1 },
  0x09: { dtype: 'int8', bytes: 1 },
  0x0b: { dtype: 'int16', bytes: 2 },
  0x0c: { dtype: 'int32', bytes: 4 },
  0x0d: { dtype: 'float32', bytes: 4 },
  0x0e: { dtype: 'float64', bytes: 8 },
} as const;
type IdxType = keyof typeof TYPES;

export interface IdxArray {
  dtype: 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';
  dims: number[];
  /** The values, row-major, in host byte order (uint8 data is a view of the file's bytes). */
  data: Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;
}

/** Reads an idx file (gzipped or not); a malformed one is an Error naming the file and what is wrong. */
export async function readIdx(path: string): Promise<IdxArray> {
  let raw: Buffer = await readFile(path);
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      raw = await gunzipAsync(raw);
    } catch (e) {
      throw new Error(`readIdx: ${path} starts like a gzip file but does not decompress: ${(e as Error).message}`);
    }
  }
  return parseIdx(raw, path);
}

export function parseIdx(raw: Uint8Array, path: string): IdxArray {
  const bad = (what: string): Error => new Error(`readIdx: ${path} is not a valid idx file: ${what}`);
  if (raw.length < 4) throw bad(`it has ${raw.length} bytes, fewer than the 4-byte magic number`);
  if (raw[0] !== 0 || raw[1] !== 0) throw bad(`the magic number must start with two zero bytes, got 0x${hex(raw[0])} 0x${hex(raw[1])}`);
  const type = TYPES[raw[2] as IdxType];
  if (!type) throw bad(`unknown type byte 0x${hex(raw[2])} (expected 0x08, 0x09, 0x0B, 0x0C, 0x0D or 0x0E)`);
  const ndim = raw[3];
  if (ndim === 0) throw bad('it declares 0 dimensions');
  const header = 4 + 4 * ndim;
  if (raw.length < header) throw bad(`it has ${raw.length} bytes, fewer than its ${header}-byte header`);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const dims = Array.from({ length: ndim }, (_, k) => view.getUint32(4 + 4 * k, false));
  const count = dims.reduce((a, b) => a * b, 1);
  const expected = header + count * type.bytes;
  if (raw.length !== expected) {
    throw bad(`dimensions [${dims}] of ${type.dtype} need ${expected} bytes, the file has ${raw.length} (truncated or padded)`);
  }
  if (type.dtype === 'uint8') return { dtype: 'uint8', dims, data: raw.subarray(header) };
  if (type.dtype === 'int8') return { dtype: 'int8', dims, data: new Int8Array(raw.buffer, raw.byteOffset + header, count) };
  const read = {
    int16: (o: number) => view.getInt16(o, false),
    int32: (o: number) => view.getInt32(o, false),
    float32: (o: number) => view.getFloat32(o, false),
    float64: (o: number) => view.getFloat64(o, false),
  }[type.dtype];
  const Out = { int16: Int16Array, int32: Int32Array, float32: Float32Array, float64: Float64Array }[type.dtype];
  const data = new Out(count);
  for (let i = 0; i < count; i++) data[i] = read(header + i * type.bytes);
  return { dtype: type.dtype, dims, data };
}

function hex(b: number): string {
  return b.toString(16).padStart(2, '0').toUpperCase();
}
