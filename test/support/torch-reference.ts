// Computes reference results with Python PyTorch (the torch that LibTorch came from, or
// HEXA_PYTHON's): an implementation independent of ours, built from plain torch ops.
//
//   const out = await torchReference(`out['y'] = inp['x'].sign()`, { x: await t.data().. });
//
// Inputs and outputs cross as raw little-endian files plus a JSON manifest, so float64
// values arrive bit-exact. Outputs come back as Float64Array (or BigInt64Array for ints).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { addon, userEnvironment } from '../../lib/native.js';

export interface RefArray {
  data: Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;
  shape: number[];
}
export interface RefResult {
  data: Float64Array;
  shape: number[];
}

const DTYPES: Record<string, string> = {
  Float32Array: 'float32',
  Float64Array: 'float64',
  Int32Array: 'int32',
  BigInt64Array: 'int64',
  Uint8Array: 'uint8',
};

const PRELUDE = `
import json, sys, os
import numpy as np
import torch
torch.set_num_threads(2)
d = sys.argv[1]
man = json.load(open(os.path.join(d, 'in.json')))
inp = {}
for k, m in man.items():
    a = np.fromfile(os.path.join(d, k + '.bin'), dtype=m['dtype']).reshape(m['shape'])
    inp[k] = torch.from_numpy(a.copy())
out = {}
`;
const EPILOGUE = `
res = {}
for k, t in out.items():
    t = torch.as_tensor(t).detach().cpu()
    a = t.to(torch.float64).contiguous().numpy()
    a.tofile(os.path.join(d, 'out_' + k + '.bin'))
    res[k] = list(a.shape)
json.dump(res, open(os.path.join(d, 'out.json'), 'w'))
`;

/** The Python interpreter and environment that can import torch for references. */
export function pythonEnv(): { python: string; env: NodeJS.ProcessEnv } {
  const python = process.env.HEXA_PYTHON || 'python3';
  const lt = addon().libtorch;
  // The user's environment, not the OpenMP setting the addon's loader added for itself: the
  // Python peers of the benchmarks run as a PyTorch user runs them.
  const env = userEnvironment();
  if (lt.layout === 'wheel' && !process.env.HEXA_PYTHON) {
    env.PYTHONPATH = [lt.home, process.env.PYTHONPATH].filter(Boolean).join(path.delimiter);
  }
  return { python, env };
}

/** Runs `code` (which reads `inp[name]` tensors and fills `out[name]`) and returns `out`. */
export function torchReference(code: string, inputs: Record<string, RefArray>): Record<string, RefResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hexa-ref-'));
  try {
    const manifest: Record<string, { dtype: string; shape: number[] }> = {};
    for (const [k, v] of Object.entries(inputs)) {
      const dtype = DTYPES[v.data.constructor.name];
      if (!dtype) throw new TypeError(`torchReference: unsupported input type for ${k}`);
      manifest[k] = { dtype, shape: v.shape };
      fs.writeFileSync(path.join(dir, `${k}.bin`), Buffer.from(v.data.buffer, v.data.byteOffset, v.data.byteLength));
    }
    fs.writeFileSync(path.join(dir, 'in.json'), JSON.stringify(manifest));
    const script = path.join(dir, 'ref.py');
    fs.writeFileSync(script, PRELUDE + code + '\n' + EPILOGUE);
    const { python, env } = pythonEnv();
    const r = spawnSync(python, [script, dir], { env, encoding: 'utf8', timeout: 300_000 });
    if (r.status !== 0) throw new Error(`torchReference: python failed (${r.status ?? r.signal}):\n${r.stderr}`);
    const shapes = JSON.parse(fs.readFileSync(path.join(dir, 'out.json'), 'utf8')) as Record<string, number[]>;
    const out: Record<string, RefResult> = {};
    for (const [k, shape] of Object.entries(shapes)) {
      const buf = fs.readFileSync(path.join(dir, `out_${k}.bin`));
      out[k] = { data: new Float64Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)), shape };
    }
    return out;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Values rounded to 5 decimals, for printing ours beside a reference before a check. */
export function rounded(xs: ArrayLike<number>): number[] {
  return Array.from(xs, (v) => +Number(v).toFixed(5));
}

/** max |a - b| / max(|b|, floor) over all elements, with `floor` guarding near-zero references. */
export function maxRelError(actual: ArrayLike<number>, expected: ArrayLike<number>, floor = 1e-6): number {
  if (actual.length !== expected.length) throw new RangeError(`length ${actual.length} != ${expected.length}`);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = Number(actual[i]);
    const b = Number(expected[i]);
    if (Number.isNaN(a) !== Number.isNaN(b)) return Infinity;
    const err = Math.abs(a - b) / Math.max(Math.abs(b), floor);
    if (err > worst) worst = err;
  }
  return worst;
}
