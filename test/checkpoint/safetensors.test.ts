import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { loadSafetensors, saveSafetensors } from '../../lib/checkpoint/safetensors.js';
import { Generator, randn, tensor } from '../../lib/index.js';
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
