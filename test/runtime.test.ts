import fs from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { cuda, info, manualSeed, rand, setNumThreads } from '../lib/index.js';

it('info() reports versions, variant, threads and devices consistent with the build', () => {
  const i = info();
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8'));
  expect(i.version).toBe(pkg.version);
  expect(['cpu', 'cuda']).toContain(i.variant);
  expect(i.libtorch.version.split('+')[0]).toBe(i.libtorch.builtAgainst);
  expect(Number(i.libtorch.version.split('.')[1])).toBeGreaterThanOrEqual(11);
  expect(i.threads).toBeGreaterThanOrEqual(1);
  expect(i.devices[0].device).toBe('cpu');
  expect(i.devices.length).toBe(1 + cuda.deviceCount());
  expect(cuda.isBuilt()).toBe(i.variant === 'cuda');
  expect(cuda.isAvailable()).toBe(cuda.deviceCount() > 0);
  expect(fs.existsSync(i.binary)).toBe(true);
});

it('manualSeed makes the default generator reproducible', async () => {
  manualSeed(1234);
  const a = await rand([32]);
  manualSeed(1234);
  const b = await rand([32]);
  expect(Array.from(await a.data())).toEqual(Array.from(await b.data()));
  expect(() => manualSeed(-1)).toThrow(RangeError);
  expect(() => manualSeed(1.5)).toThrow(/seed must be an integer/);
  a.dispose();
  b.dispose();
});

it('setNumThreads validates and applies', () => {
  const n = info().threads;
  setNumThreads(1);
  expect(info().threads).toBe(1);
  setNumThreads(n);
  expect(() => setNumThreads(0)).toThrow(RangeError);
  expect(() => setNumThreads('2' as never)).toThrow(TypeError);
});

it('the cuDNN determinism switch starts off (LibTorch default), sets, and validates', () => {
  expect(cuda.cudnnDeterministic()).toBe(false);
  try {
    cuda.setCudnnDeterministic(true);
    expect(cuda.cudnnDeterministic()).toBe(true);
    expect(() => cuda.setCudnnDeterministic(1 as never)).toThrow(/cuda.setCudnnDeterministic: on must be a boolean, got 1/);
    expect(cuda.cudnnDeterministic()).toBe(true);
  } finally {
    cuda.setCudnnDeterministic(false);
  }
  expect(cuda.cudnnDeterministic()).toBe(false);
});

it('TF32 switches start at LibTorch defaults (matmul off, cuDNN on), set together or one by one, and validate', () => {
  const before = cuda.allowTF32();
  expect(before).toEqual({ matmul: false, cudnn: true });
  try {
    cuda.setAllowTF32(false);
    expect(cuda.allowTF32()).toEqual({ matmul: false, cudnn: false });
    cuda.setAllowTF32({ matmul: true });
    expect(cuda.allowTF32()).toEqual({ matmul: true, cudnn: false });
    expect(() => cuda.setAllowTF32('yes' as never)).toThrow(/cuda.setAllowTF32: allow must be a boolean or \{ matmul\?, cudnn\? \}, got/);
    expect(() => cuda.setAllowTF32({ cudnn: 1 } as never)).toThrow(TypeError);
  } finally {
    cuda.setAllowTF32(before);
  }
  expect(cuda.allowTF32()).toEqual(before);
});

it('cuda.synchronize resolves after queued GPU work (at once without a GPU)', async () => {
  const x = await rand([512, 512], cuda.isAvailable() ? { device: 'cuda' } : {});
  const y = await x.matmul(x); // queued on the GPU; the promise resolves before it has run
  await expect(cuda.synchronize()).resolves.toBeUndefined();
  expect(y.shape).toEqual([512, 512]);
  for (const t of [x, y]) t.dispose();
});

// The reference: Linux's own reading of CPUID (with the OS's XSAVE support), /proc/cpuinfo's flags.
const cpuinfoFlags = (() => {
  try {
    const line = fs.readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags'));
    return line ? new Set(line.slice(line.indexOf(':') + 1).trim().split(/\s+/)) : null;
  } catch {
    return null;
  }
})();
it.skipIf(process.arch !== 'x64' || !cpuinfoFlags)('info().cpu agrees with /proc/cpuinfo (skipped off Linux x86-64: no such reference)', () => {
  const { cpu } = info();
  const has = (flag: string) => cpuinfoFlags!.has(flag);
  expect(cpu).toEqual({
    arch: 'x86_64',
    avx2: has('avx2'),
    avx512f: has('avx512f'),
    avx512bf16: has('avx512_bf16'),
    amxBf16: has('amx_bf16'),
    nativeBf16: has('avx512_bf16') || has('amx_bf16'),
  });
});
