// safetensors (https://github.com/huggingface/safetensors format): an 8-byte little-endian
// header length, a JSON header { name: { dtype, shape, data_offsets }, __metadata__ }, then
// the raw little-endian tensor bytes. Readable by the `safetensors` Python package and so by
// PyTorch (safetensors.torch.load_file). Writes are atomic: temp file, fsync, rename.
import fs from 'node:fs';
import path from 'node:path';
import { tensor, Tensor } from '../tensor.js';
import type { DType } from '../native-types.js';

const TO_SAFETENSORS: Partial<Record<DType, string>> = {
  float32: 'F32',
  float64: 'F64',
  int32: 'I32',
  int64: 'I64',
  uint8: 'U8',
  bool: 'BOOL',
  // float16/bfloat16 are written as F32 (data() widens them); exact for every value.
  float16: 'F32',
  bfloat16: 'F32',
};

type Ctor = Float32ArrayConstructor | Float64ArrayConstructor | Int32ArrayConstructor | BigInt64ArrayConstructor | Uint8ArrayConstructor;
const FROM_SAFETENSORS: Record<string, { ctor: Ctor; dtype: DType }> = {
  F32: { ctor: Float32Array, dtype: 'float32' },
  F64: { ctor: Float64Array, dtype: 'float64' },
  I32: { ctor: Int32Array, dtype: 'int32' },
  I64: { ctor: BigInt64Array, dtype: 'int64' },
  U8: { ctor: Uint8Array, dtype: 'uint8' },
  BOOL: { ctor: Uint8Array, dtype: 'bool' },
};

/** Writes tensors (name -> Tensor) atomically; `metadata` values must be strings. */
export async function saveSafetensors(file: string, tensors: Record<string, Tensor>, metadata: Record<string, string> = {}): Promise<void> {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = { __metadata__: metadata };
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const name of names) {
    const t = tensors[name];
    const dtype = TO_SAFETENSORS[t.dtype];
    if (!dtype) throw new TypeError(`saveSafetensors: ${name} has unsupported dtype ${t.dtype}`);
    const data = await t.data();
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    chunks.push(bytes);
    offset += bytes.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8); // align the data to 8 bytes
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  await writeAtomic(file, [head, Buffer.from(json), ...chunks]);
}

/** Reads a safetensors file into CPU tensors (and its metadata). */
export async function loadSafetensors(file: string): Promise<{ tensors: Record<string, Tensor>; metadata: Record<string, string> }> {
  const buf = await fs.promises.readFile(file);
  if (buf.length < 8) throw new RangeError(`loadSafetensors: ${file} is too short to be a safetensors file`);
  const n = Number(buf.readBigUInt64LE(0));
  if (8 + n > buf.length) throw new RangeError(`loadSafetensors: ${file} has a header of ${n} bytes but only ${buf.length} bytes`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  try {
    header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  } catch (e) {
    throw new RangeError(`loadSafetensors: ${file} has a corrupt header (${(e as Error).message})`);
  }
  const { __metadata__: metadata = {}, ...entries } = header as Record<string, never>;
  const tensors: Record<string, Tensor> = {};
  try {
    for (const [name, e] of Object.entries(entries) as Array<[string, { dtype: string; shape: number[]; data_offsets: [number, number] }]>) {
      const kind = FROM_SAFETENSORS[e.dtype];
      if (!kind) throw new TypeError(`loadSafetensors: ${name} has unsupported dtype ${e.dtype}`);
      const [start, end] = e.data_offsets;
      if (start < 0 || end < start || 8 + n + end > buf.length) throw new RangeError(`loadSafetensors: ${name} lies outside the file`);
      // Copy into an aligned buffer: typed arrays need aligned offsets.
      const bytes = new Uint8Array(end - start);
      bytes.set(buf.subarray(8 + n + start, 8 + n + end));
      const arr = new kind.ctor(bytes.buffer);
      tensors[name] = tensor(arr, e.shape, kind.dtype === 'bool' ? 'bool' : undefined);
    }
  } catch (e) {
    Object.values(tensors).forEach((t) => t.dispose());
    throw e;
  }
  return { tensors, metadata };
}

/** Writes `parts` to `file` so a reader sees the old file or the whole new one, never half. */
export async function writeAtomic(file: string, parts: Array<Uint8Array | string>): Promise<void> {
  await fs.promises.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
  const fh = await fs.promises.open(tmp, 'w');
  try {
    for (const p of parts) await (typeof p === 'string' ? fh.write(p) : fh.write(p));
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.promises.rename(tmp, file);
}
