import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSafetensors, removeStaleTempFiles, saveSafetensors, writeAtomic } from '../../lib/checkpoint/safetensors.js';
import { Generator, liveTensorCount, randn, tensor } from '../../lib/index.js';
import { pythonEnv } from '../support/torch-reference.js';
import { spawnSync } from 'node:child_process';

it('writes safetensors that an independent reader (struct + json + numpy) decodes exactly, and reads them back', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hexa-st-'));
  try {
    const g = new Generator(1);
    const tensors = {
      'backbone.conv1.weight': await randn([4, 3, 3, 3], { generator: g }),
      'x.f64': await randn([5], { dtype: 'float64', generator: g }),
      'x.i64': tensor(new BigInt64Array([1n, -2n, 3n]), [3]),
      'x.u8': tensor(new Uint8Array([0, 255, 7]), [3]),
      'x.scalar': tensor(new Float32Array([2.5]), []),
    };
    const file = path.join(dir, 'w.safetensors');
    await saveSafetensors(file, tensors, { arch: 'resnet18' });
    const script = `
import json, struct, sys, numpy as np
b = open(sys.argv[1], 'rb').read()
n, = struct.unpack('<Q', b[:8])
h = json.loads(b[8:8 + n])
out = {'__metadata__': h.pop('__metadata__')}
types = {'F32': '<f4', 'F64': '<f8', 'I64': '<i8', 'U8': 'u1'}
for k, e in h.items():
    s, t = e['data_offsets']
    a = np.frombuffer(b[8 + n + s:8 + n + t], dtype=types[e['dtype']]).reshape(e['shape'])
    out[k] = {'shape': list(a.shape), 'values': a.astype('float64').ravel().tolist()}
print(json.dumps(out))`;
    const { python, env } = pythonEnv();
    const r = spawnSync(python, ['-c', script, file], { env, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const py = JSON.parse(r.stdout);
    expect(py.__metadata__).toEqual({ arch: 'resnet18' });
    for (const [k, t] of Object.entries(tensors)) {
      expect(py[k].shape, k).toEqual(t.shape);
      expect(py[k].values, k).toEqual(Array.from(await t.data(), Number));
    }
    const back = await loadSafetensors(file);
    expect(back.metadata).toEqual({ arch: 'resnet18' });
    for (const [k, t] of Object.entries(tensors)) {
      expect(back.tensors[k].dtype, k).toBe(t.dtype);
      expect(Array.from(await back.tensors[k].data(), Number), k).toEqual(Array.from(await t.data(), Number));
    }
    // No temp files are left behind by the atomic write.
    expect(fs.readdirSync(dir)).toEqual(['w.safetensors']);
    fs.writeFileSync(path.join(dir, 'bad.safetensors'), Buffer.from([200, 0, 0, 0, 0, 0, 0, 0, 123]));
    await expect(loadSafetensors(path.join(dir, 'bad.safetensors'))).rejects.toThrow(/header of 200 bytes/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

describe('loadSafetensors refuses malformed headers with an error naming the file and what is wrong', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hexa-st-bad-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  /** A safetensors file of this header text and `data` bytes of data. */
  function file(name: string, header: string, data: number): string {
    const head = Buffer.alloc(8);
    head.writeBigUInt64LE(BigInt(Buffer.byteLength(header)));
    const f = path.join(dir, name);
    fs.writeFileSync(f, Buffer.concat([head, Buffer.from(header), Buffer.alloc(data, 1)]));
    return f;
  }
  const f32 = (offsets: unknown, shape: unknown = [1]) => JSON.stringify({ dtype: 'F32', shape, data_offsets: offsets });

  it.each([
    ['overlapping data', `{"a":${f32([0, 4])},"b":${f32([0, 4])}}`, 4, RangeError, /entry "b" whose data \[0, 4\) overlaps another entry's/],
    ['a name twice', `{"a":${f32([0, 4])},"a":${f32([4, 8])}}`, 8, RangeError, /names "a" twice in its header/],
    ['a name twice, once escaped', `{"a":${f32([0, 4])},"\\u0061":${f32([4, 8])}}`, 8, RangeError, /names "a" twice/],
    ['non-integer offsets', `{"a":${f32([0.5, 4.5])}}`, 5, RangeError, /entry "a" whose data_offsets are not two non-negative integers \(\[0\.5,4\.5\]\)/],
    ['offsets as strings', `{"a":${f32(['0', '4'])}}`, 4, RangeError, /entry "a" whose data_offsets are not two non-negative integers/],
    ['a tensor named __proto__', `{"__proto__":${f32([0, 4])}}`, 4, RangeError, /a tensor named '__proto__', which is refused/],
    ['a null entry', '{"a":null}', 0, RangeError, /entry "a" that is not an object \{ dtype, shape, data_offsets \} \(null\)/],
    ['a missing dtype', `{"a":{"shape":[1],"data_offsets":[0,4]}}`, 4, TypeError, /entry "a" of unsupported dtype missing/],
    ['a shape that does not fit the bytes', `{"a":${f32([0, 4], [2])}}`, 4, RangeError, /shape \[2\] \(F32\) which needs 8 bytes, but its data_offsets hold 4/],
    ['a negative dimension', `{"a":${f32([0, 4], [-1])}}`, 4, RangeError, /shape is not an array of non-negative integers/],
    ['data past the end', `{"a":${f32([0, 8], [2])}}`, 4, RangeError, /data \[0, 8\) lies outside the 4 data bytes/],
    ['bytes no entry names', `{"a":${f32([4, 8])}}`, 8, RangeError, /4 data bytes at \[0, 4\) that no entry names/],
    ['trailing bytes', `{"a":${f32([0, 4])}}`, 6, RangeError, /2 data bytes at its end that no entry names/],
    ['a header that is an array', '[1,2]', 0, RangeError, /header that is not a JSON object/],
    ['metadata that is not strings', `{"__metadata__":{"x":1}}`, 0, RangeError, /__metadata__\.x that is not a string \(1\)/],
  ])('%s', async (label, header, data, kind, message) => {
    const f = file(`${label.replace(/\W+/g, '-')}.safetensors`, header, data);
    const live = liveTensorCount();
    const err = await loadSafetensors(f).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(kind);
    expect((err as Error).message.startsWith(`loadSafetensors: ${f} `), (err as Error).message).toBe(true);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toMatch(/Cannot read|undefined|of null/);
    expect(liveTensorCount()).toBeLessThanOrEqual(live); // nothing made before the refusal is left alive (GC may free older ones meanwhile)
  });

  it('names the function when the file cannot be read, keeping the error code', async () => {
    const missing = path.join(dir, 'missing.safetensors');
    const err = await loadSafetensors(missing).then(() => null, (e: unknown) => e);
    expect((err as Error).message).toMatch(new RegExp(`^loadSafetensors: cannot read ${missing.replace(/[.]/g, '\\.')} \\(ENOENT: `));
    expect((err as NodeJS.ErrnoException).code).toBe('ENOENT');
  });

  it('still reads a well-formed file whose entries are listed out of offset order', async () => {
    const f = file('ok.safetensors', `{"b":${f32([4, 8])},"a":${f32([0, 4])},"__metadata__":{"k":"v"}}`, 8);
    const { tensors, metadata } = await loadSafetensors(f);
    expect(Object.keys(tensors).sort()).toEqual(['a', 'b']);
    expect(metadata).toEqual({ k: 'v' });
    Object.values(tensors).forEach((t) => t.dispose());
  });
});

describe('writeAtomic cleans temp files left by writes that cannot finish', () => {
  it('removes the stale temp file of a save killed mid-write at the next save of that file, and only that', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hexa-st-tmp-'));
    try {
      const target = path.join(dir, 'w.safetensors');
      // A process killed while writing its temp file (as a SIGKILL during a checkpoint save).
      const killed = spawnSync(process.execPath, ['-e', `
        const fs = require('node:fs');
        fs.writeFileSync(${JSON.stringify(target)} + '.tmp-' + process.pid + '-' + Date.now() + '-0', Buffer.alloc(100));
        process.kill(process.pid, 'SIGKILL');`]);
      expect(killed.signal).toBe('SIGKILL');
      const stale = fs.readdirSync(dir);
      expect(stale).toHaveLength(1);
      expect(stale[0]).toMatch(new RegExp(`^w\\.safetensors\\.tmp-${killed.pid}-`));
      // Not stale: another target's temp file, and one of a live process (pid 1) that may still be writing.
      fs.writeFileSync(path.join(dir, `other.safetensors.tmp-${killed.pid}-1-0`), 'x');
      fs.writeFileSync(path.join(dir, 'w.safetensors.tmp-1-1-0'), 'x');
      const t = tensor(new Float32Array([1, 2]), [2]);
      await saveSafetensors(target, { t });
      t.dispose();
      expect(fs.readdirSync(dir).sort()).toEqual([`other.safetensors.tmp-${killed.pid}-1-0`, 'w.safetensors', 'w.safetensors.tmp-1-1-0']);
      // A write that fails removes its own temp file.
      await expect(writeAtomic(target, [42 as unknown as string])).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
      expect(fs.readdirSync(dir).sort()).toEqual([`other.safetensors.tmp-${killed.pid}-1-0`, 'w.safetensors', 'w.safetensors.tmp-1-1-0']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('removeStaleTempFiles(dir) cleans killed writes of any target (names with a step change every save)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hexa-st-tmp-'));
    try {
      const dead = spawnSync(process.execPath, ['-e', '0']).pid!; // exited: its pid is no longer alive
      const files = [
        `ckpt-step00000010.safetensors.tmp-${dead}-1700000000000-0`, // stale: a dead writer
        `ckpt-step00000020.safetensors.tmp-${dead}-1700000000001`, // stale (the format before the counter)
        `ckpt-step00000030.safetensors.tmp-${process.pid}-1700000000002-7`, // stale: ours, no write uses it
        'ckpt-step00000040.safetensors.tmp-1-1700000000003-0', // pid 1 is alive: it may still be writing
        'ckpt-step00000010.safetensors', // not a temp file
        'notes.tmp-x', // not one of ours
      ];
      for (const f of files) fs.writeFileSync(path.join(dir, f), 'x');
      expect((await removeStaleTempFiles(dir)).sort()).toEqual(files.slice(0, 3).sort());
      expect(fs.readdirSync(dir).sort()).toEqual(files.slice(3).sort());
      expect(await removeStaleTempFiles(path.join(dir, 'missing'))).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
