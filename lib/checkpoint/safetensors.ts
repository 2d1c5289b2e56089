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

/** Bytes per element of each dtype read. */
const ELEMENT_BYTES: Record<string, number> = { F32: 4, F64: 8, I32: 4, I64: 8, U8: 1, BOOL: 1 };

/**
 * Reads a safetensors file into CPU tensors (and its metadata). The header is checked as the
 * format's reference reader does: every entry an object with a known dtype, a shape of
 * non-negative integers and integer data_offsets whose length fits the shape, the entries'
 * data tiling the data section exactly (no overlap, no gap), no name twice, metadata of
 * strings. A tensor named `__proto__` is refused (it would set the result's prototype).
 */
export async function loadSafetensors(file: string): Promise<{ tensors: Record<string, Tensor>; metadata: Record<string, string> }> {
  let buf: Buffer;
  try {
    buf = await fs.promises.readFile(file);
  } catch (e) {
    // fs says what and which file, not which function: add it, keep the code (ENOENT, ...).
    const err = new Error(`loadSafetensors: cannot read ${file} (${(e as Error).message})`, { cause: e });
    Object.assign(err, { code: (e as NodeJS.ErrnoException).code });
    throw err;
  }
  const bad = (what: string) => new RangeError(`loadSafetensors: ${file} ${what}`);
  if (buf.length < 8) throw bad('is too short to be a safetensors file');
  const n = Number(buf.readBigUInt64LE(0));
  if (8 + n > buf.length) throw bad(`has a header of ${n} bytes but only ${buf.length} bytes`);
  const text = buf.subarray(8, 8 + n).toString('utf8');
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw bad(`has a corrupt header (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw bad(`has a header that is not a JSON object`);
  const twice = duplicateTopLevelKey(text);
  if (twice !== null) throw bad(`names ${JSON.stringify(twice)} twice in its header`);
  const dataLength = buf.length - 8 - n;
  const metadata: Record<string, string> = {};
  const entries: Array<{ name: string; kind: (typeof FROM_SAFETENSORS)[string]; shape: number[]; start: number; end: number }> = [];
  for (const [name, e] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__proto__') throw bad(`has a tensor named '__proto__', which is refused`);
    if (name === '__metadata__') {
      if (typeof e !== 'object' || e === null || Array.isArray(e)) throw bad(`has __metadata__ that is not an object of strings`);
      for (const [k, v] of Object.entries(e)) {
        if (typeof v !== 'string') throw bad(`has __metadata__.${k} that is not a string (${describe(v)})`);
        if (k === '__proto__') throw bad(`has a metadata key '__proto__', which is refused`);
        metadata[k] = v;
      }
      continue;
    }
    const entry = `entry ${JSON.stringify(name)}`;
    if (typeof e !== 'object' || e === null || Array.isArray(e)) throw bad(`has ${entry} that is not an object { dtype, shape, data_offsets } (${describe(e)})`);
    const { dtype, shape, data_offsets: offsets } = e as Record<string, unknown>;
    const kind = typeof dtype === 'string' && Object.hasOwn(FROM_SAFETENSORS, dtype) ? FROM_SAFETENSORS[dtype] : undefined;
    if (!kind) throw new TypeError(`loadSafetensors: ${file} has ${entry} of unsupported dtype ${describe(dtype)} (supported: ${Object.keys(FROM_SAFETENSORS).join(', ')})`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw bad(`has ${entry} whose shape is not an array of non-negative integers (${describe(shape)})`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw bad(`has ${entry} whose data_offsets are not two non-negative integers (${describe(offsets)})`);
    }
    const [start, end] = offsets as [number, number];
    if (end < start || end > dataLength) throw bad(`has ${entry} whose data [${start}, ${end}) lies outside the ${dataLength} data bytes`);
    const numel = (shape as number[]).reduce((a, d) => a * d, 1);
    if (numel * ELEMENT_BYTES[dtype as string] !== end - start) {
      throw bad(`has ${entry} of shape [${shape.join(', ')}] (${dtype}) which needs ${numel * ELEMENT_BYTES[dtype as string]} bytes, but its data_offsets hold ${end - start}`);
    }
    entries.push({ name, kind, shape: shape as number[], start, end });
  }
  // The entries' data must tile the data section: sorted by offset, each starts where the last ended.
  const sorted = [...entries].sort((a, b) => a.start - b.start || a.end - b.end);
  let at = 0;
  for (const e of sorted) {
    if (e.start < at) throw bad(`has entry ${JSON.stringify(e.name)} whose data [${e.start}, ${e.end}) overlaps another entry's`);
    if (e.start > at) throw bad(`has ${e.start - at} data bytes at [${at}, ${e.start}) that no entry names`);
    at = e.end;
  }
  if (at !== dataLength) throw bad(`has ${dataLength - at} data bytes at its end that no entry names`);
  const tensors: Record<string, Tensor> = {};
  try {
    for (const { name, kind, shape, start, end } of entries) {
      // Copy into an aligned buffer: typed arrays need aligned offsets.
      const bytes = new Uint8Array(end - start);
      bytes.set(buf.subarray(8 + n + start, 8 + n + end));
      const arr = new kind.ctor(bytes.buffer);
      tensors[name] = tensor(arr, shape, kind.dtype === 'bool' ? 'bool' : undefined);
    }
  } catch (e) {
    Object.values(tensors).forEach((t) => t.dispose());
    throw e;
  }
  return { tensors, metadata };
}

/** A short description of a header value for error messages. */
function describe(v: unknown): string {
  if (v === undefined) return 'missing';
  const s = JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/**
 * The first key that appears twice in the top-level object of a JSON text (JSON.parse keeps
 * the last one silently), or null. The text is valid JSON (already parsed); keys compare
 * after unescaping, as JSON.parse would.
 */
function duplicateTopLevelKey(text: string): string | null {
  const seen = new Set<string>();
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
    else if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (depth === 1) {
        let k = j + 1;
        while (k < text.length && ' \t\n\r'.includes(text[k])) k++;
        if (text[k] === ':') {
          const key = JSON.parse(text.slice(i, j + 1)) as string;
          if (seen.has(key)) return key;
          seen.add(key);
        }
      }
      i = j;
    }
  }
  return null;
}

/** Temp files this process is writing now (never cleaned as stale). */
const inFlight = new Set<string>();
let tmpCounter = 0;

/**
 * Writes `parts` to `file` so a reader sees the old file or the whole new one, never half.
 * The data goes to `<file>.tmp-<pid>-<n>` first (fsync, rename). A write that fails removes
 * its temp file; one killed mid-write leaves it, so every write first removes the stale temp
 * files of the same target: those of processes no longer alive, and this process's own
 * that no write of it is using.
 */
export async function writeAtomic(target: string, parts: Array<Uint8Array | string>): Promise<void> {
  const file = path.resolve(target);
  await fs.promises.mkdir(path.dirname(file), { recursive: true });
  await removeStaleTemps(file);
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}-${tmpCounter++}`;
  inFlight.add(tmp);
  try {
    const fh = await fs.promises.open(tmp, 'w');
    try {
      for (const p of parts) await (typeof p === 'string' ? fh.write(p) : fh.write(p));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.promises.rename(tmp, file);
  } catch (e) {
    await fs.promises.rm(tmp, { force: true }).catch(() => {});
    throw e;
  } finally {
    inFlight.delete(tmp);
  }
}

/** Removes `<file>.tmp-<pid>-...` files left by writes of `file` that can no longer finish. */
async function removeStaleTemps(file: string): Promise<void> {
  await removeStaleTempFiles(path.dirname(file), path.basename(file));
}

/**
 * Removes the temp files writeAtomic left in `dir` (`<name>.tmp-<pid>-...`) that no write
 * can finish any more: those of processes no longer alive, and this process's own that no
 * write of it is using. With `target`, only that file's. For callers whose targets change
 * name from save to save (a step in the name), so a killed save's temp file is never the
 * next save's target. Returns the names removed.
 */
export async function removeStaleTempFiles(dir: string, target?: string): Promise<string[]> {
  const names = await fs.promises.readdir(dir).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const name of names) {
    const m = /^(.+)\.tmp-(\d+)-\d+(-\d+)?$/.exec(name);
    if (!m || (target !== undefined && m[1] !== target)) continue;
    const full = path.resolve(dir, name);
    const pid = Number(m[2]);
    const stale = pid === process.pid ? !inFlight.has(full) : !isAlive(pid);
    if (!stale) continue;
    await fs.promises.rm(full, { force: true }).catch(() => {});
    removed.push(name);
  }
  return removed;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // alive, someone else's
  }
}
