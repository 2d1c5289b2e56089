// A tiny idx writer for tests (independent of lib/data/idx.ts, the reader under test): magic
// 00 00 type ndim, big-endian dims, then the data.
export function idx(type: number, dims: number[], body: Uint8Array): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = type;
  header[3] = dims.length;
  dims.forEach((d, k) => header.writeUInt32BE(d, 4 + 4 * k));
  return Buffer.concat([header, body]);
}
