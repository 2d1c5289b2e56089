// PyTorch's state-dict file (what torch.save(model.state_dict(), f) writes), written without
// Python: a stored (uncompressed) zip archive holding
//   <root>/data.pkl      a pickle (protocol 2) of an OrderedDict name -> tensor, each tensor
//                        rebuilt by torch._utils._rebuild_tensor_v2 from a persistent storage
//                        id ('storage', torch.<Type>Storage, key, 'cpu', numel);
//   <root>/data/<key>    each storage's raw little-endian bytes, aligned to 64 bytes as
//                        torch's writer aligns them;
//   <root>/byteorder, <root>/version.
// Only the globals torch.load(weights_only=True) allows are used, so it loads with no code
// executed. Written atomically.
import { crc32 } from 'node:zlib';
import type { Tensor } from '../tensor.js';
import type { DType } from '../native-types.js';
import { writeAtomic } from './safetensors.js';

const STORAGE: Partial<Record<DType, string>> = {
  float32: 'FloatStorage',
  float64: 'DoubleStorage',
  int32: 'IntStorage',
  int64: 'LongStorage',
  uint8: 'ByteStorage',
  bool: 'BoolStorage',
};

/** A pickle (protocol 2) writer for the few kinds of value a state dict needs. */
class Pickler {
  private parts: Buffer[] = [Buffer.from([0x80, 0x02])]; // PROTO 2
  private op(...bytes: number[]) {
    this.parts.push(Buffer.from(bytes));
  }
  global(module: string, name: string) {
    this.parts.push(Buffer.from(`c${module}\n${name}\n`, 'utf8'));
  }
  str(s: string) {
    const b = Buffer.from(s, 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length);
    this.parts.push(Buffer.from('X'), len, b); // BINUNICODE
  }
  int(n: number) {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`torch-save: cannot pickle ${n}`);
    if (n < 256) this.op(0x4b, n); // BININT1
    else if (n < 2 ** 31) {
      const b = Buffer.alloc(5);
      b[0] = 0x4a; // BININT
      b.writeInt32LE(n, 1);
      this.parts.push(b);
    } else {
      const b = Buffer.alloc(10);
      b[0] = 0x8a; // LONG1, 8 bytes
      b[1] = 8;
      b.writeBigInt64LE(BigInt(n), 2);
      this.parts.push(b);
    }
  }
  bool(v: boolean) {
    this.op(v ? 0x88 : 0x89);
  }
  mark() {
    this.op(0x28);
  }
  tuple() {
    this.op(0x74);
  }
  reduce() {
    this.op(0x52);
  }
  emptyOrderedDict() {
    this.global('collections', 'OrderedDict');
    this.op(0x29); // EMPTY_TUPLE
    this.reduce();
  }
  persistentId() {
    this.op(0x51); // BINPERSID
  }
  setItems() {
    this.op(0x75);
  }
  bytes(): Buffer {
    this.op(0x2e); // STOP
    return Buffer.concat(this.parts);
  }
}

const contiguousStrides = (shape: number[]) => shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));

/** A stored zip archive; each entry's data starts at a multiple of 64 bytes (torch's mmap-friendly layout). */
function zip(entries: Array<[string, Buffer]>): Buffer[] {
  const out: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of entries) {
    const nameBytes = Buffer.from(name, 'utf8');
    const base = 30 + nameBytes.length;
    let pad = (64 - ((offset + base + 4) % 64)) % 64;
    const extra = Buffer.alloc(4 + pad);
    extra.write('FB', 0, 'latin1'); // torch's padding record id
    extra.writeUInt16LE(pad, 2);
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0, 6); // flags
    local.writeUInt16LE(0, 8); // stored
    local.writeUInt16LE(0, 10); // time
    local.writeUInt16LE(0x21, 12); // date 1980-01-01
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    local.writeUInt16LE(extra.length, 28);
    const head = Buffer.alloc(46);
    head.writeUInt32LE(0x02014b50, 0);
    head.writeUInt16LE(20, 4);
    head.writeUInt16LE(20, 6);
    head.writeUInt16LE(0, 8);
    head.writeUInt16LE(0, 10);
    head.writeUInt16LE(0, 12);
    head.writeUInt16LE(0x21, 14);
    head.writeUInt32LE(crc, 16);
    head.writeUInt32LE(data.length, 20);
    head.writeUInt32LE(data.length, 24);
    head.writeUInt16LE(nameBytes.length, 28);
    head.writeUInt16LE(0, 30); // no extra in the central record
    head.writeUInt32LE(offset, 42);
    central.push(head, nameBytes);
    out.push(local, nameBytes, extra, data);
    offset += base + extra.length + data.length;
    if (offset >= 2 ** 32) throw new RangeError('torch-save: files of 4 GiB or more need zip64, not written here');
    pad = 0;
  }
  const centralSize = central.reduce((a, b) => a + b.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(offset, 16);
  return [...out, ...central, end];
}

/**
 * Writes `tensors` as a PyTorch state-dict file (torch.load(f, weights_only=True) returns an
 * OrderedDict of CPU tensors with these names, in this order).
 */
export async function saveTorchStateDict(file: string, tensors: Record<string, Tensor>): Promise<void> {
  const root = 'archive';
  const p = new Pickler();
  p.emptyOrderedDict();
  p.mark();
  const records: Array<[string, Buffer]> = [];
  for (const [key, [name, t]] of Object.entries(tensors).entries()) {
    const storage = STORAGE[t.dtype];
    if (!storage) throw new TypeError(`saveTorchStateDict: ${name} has dtype ${t.dtype}, not one this writer stores`);
    const data = await t.data();
    const numel = t.shape.reduce((a, b) => a * b, 1);
    records.push([`${root}/data/${key}`, Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
    p.str(name);
    // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks)
    p.global('torch._utils', '_rebuild_tensor_v2');
    p.mark();
    p.mark();
    p.str('storage');
    p.global('torch', storage);
    p.str(String(key));
    p.str('cpu');
    p.int(numel);
    p.tuple();
    p.persistentId();
    p.int(0);
    p.mark();
    t.shape.forEach((d) => p.int(d));
    p.tuple();
    p.mark();
    contiguousStrides(t.shape).forEach((s) => p.int(s));
    p.tuple();
    p.bool(false);
    p.emptyOrderedDict();
    p.tuple();
    p.reduce();
  }
  p.setItems();
  const entries: Array<[string, Buffer]> = [
    [`${root}/data.pkl`, p.bytes()],
    [`${root}/byteorder`, Buffer.from('little')],
    ...records,
    [`${root}/version`, Buffer.from('3\n')],
  ];
  await writeAtomic(file, zip(entries));
}
