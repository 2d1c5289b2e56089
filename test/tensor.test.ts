import { describe, expect, it } from 'vitest';
import { cat, cuda, Generator, rand, randn, tensor, Tensor, zeros } from '../lib/index.js';
import { maxRelError, torchReference } from './support/torch-reference.js';

describe('tensor creation', () => {
  it('copies typed arrays of every supported type and keeps shape and dtype', async () => {
    const cases: Array<[Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array, string]> = [
      [new Float32Array([1.5, -2, 3, 4, 5, 6]), 'float32'],
      [new Float64Array([1.5, -2, 3, 4, 5, 6]), 'float64'],
      [new Int32Array([1, -2, 3, 4, 5, 6]), 'int32'],
      [new BigInt64Array([1n, -2n, 3n, 4n, 5n, 6n]), 'int64'],
      [new Uint8Array([1, 2, 3, 4, 5, 255]), 'uint8'],
    ];
    for (const [arr, dtype] of cases) {
      const t = tensor(arr, [2, 3]);
      expect(t.shape).toEqual([2, 3]);
      expect(t.dtype).toBe(dtype);
      expect(t.device).toBe('cpu');
      const back = await t.data();
      expect(Array.from(back as ArrayLike<number | bigint>)).toEqual(Array.from(arr as ArrayLike<number | bigint>));
      t.dispose();
    }
  });

  it('copies: changing the source array later does not change the tensor', async () => {
    const src = new Float32Array([1, 2, 3]);
    const t = tensor(src, [3]);
    src[0] = 100;
    expect(Array.from(await t.data())).toEqual([1, 2, 3]);
    t.dispose();
  });

  it('copies typed arrays over a SharedArrayBuffer (at their offset) like any other', async () => {
    const shared = new SharedArrayBuffer(32);
    const f = new Float32Array(shared, 8, 3);
    f.set([1.5, -2, 4]);
    const t = tensor(f, [3]);
    f[0] = 100; // a copy, as for any array
    expect(Array.from(await t.data())).toEqual([1.5, -2, 4]);
    const big = new BigInt64Array(shared, 0, 2);
    big.set([7n, -9n]);
    const u = tensor(big, [2]);
    expect(Array.from(await u.data())).toEqual([7n, -9n]);
    for (const x of [t, u]) x.dispose();
    // Wrong arguments over shared memory are errors naming the function and argument.
    expect(() => tensor(new Float32Array(shared, 0, 2), [3])).toThrow(/^tensor: shape has 3 elements but data has 2$/);
    expect(() => tensor(new Int16Array(shared, 0, 2) as never, [2])).toThrow(/^tensor: data must be a Float32Array/);
  });

  it('converts to float16/bfloat16/bool and from raw float16 bits', async () => {
    const h = tensor(new Float32Array([0.5, -1.25, 3]), [3], 'float16');
    expect(h.dtype).toBe('float16');
    expect(Array.from(await h.data())).toEqual([0.5, -1.25, 3]); // exactly representable
    // 0x3c00 = 1.0, 0xc000 = -2.0 in IEEE half precision
    const raw = tensor(new Uint16Array([0x3c00, 0xc000]), [2], 'float16');
    expect(Array.from(await raw.data())).toEqual([1, -2]);
    // bfloat16 0x3f80 = 1.0, 0x4040 = 3.0
    const bf = tensor(new Uint16Array([0x3f80, 0x4040]), [2], 'bfloat16');
    expect(bf.dtype).toBe('bfloat16');
    expect(Array.from(await bf.data())).toEqual([1, 3]);
    const b = tensor(new Uint8Array([0, 7, 1]), [3], 'bool');
    expect(b.dtype).toBe('bool');
    expect(Array.from(await b.data())).toEqual([0, 1, 1]);
    for (const t of [h, raw, bf, b]) t.dispose();
  });

  it('rejects shape/data mismatches and bad dtypes with clear errors', () => {
    expect(() => tensor(new Float32Array(5), [2, 3])).toThrow(RangeError);
    expect(() => tensor(new Float32Array(5), [2, 3])).toThrow(/shape has 6 elements but data has 5/);
    expect(() => tensor(new Float32Array(6), [2, -3])).toThrow(/shape\[1\] must be an integer/);
    expect(() => tensor(new Float32Array(6), [2, 3], 'float8' as never)).toThrow(TypeError);
    expect(() => tensor([1, 2, 3] as never, [3])).toThrow(/data must be a typed array/);
    expect(() => tensor(new Uint16Array(2), [2])).toThrow(/'float16' or 'bfloat16'/);
  });

  it('zeros, rand and randn have the asked shape, dtype and value ranges', async () => {
    const z = await zeros([3, 4], { dtype: 'float64' });
    expect(z.dtype).toBe('float64');
    expect(Array.from(await z.data()).every((v) => v === 0)).toBe(true);
    const r = await rand([1000]);
    const rv = Array.from(await r.data() as Float32Array);
    expect(Math.min(...rv)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...rv)).toBeLessThan(1);
    const mean = rv.reduce((a, b) => a + b, 0) / rv.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.05); // 5 sigma of U(0,1) mean over 1000 is ~0.046
    const n = await randn([4000], { dtype: 'float64' });
    const nv = Array.from(await n.data() as Float64Array);
    const m = nv.reduce((a, b) => a + b, 0) / nv.length;
    const v = nv.reduce((a, b) => a + (b - m) ** 2, 0) / nv.length;
    expect(Math.abs(m)).toBeLessThan(0.08);
    expect(Math.abs(v - 1)).toBeLessThan(0.1);
    await expect(rand([2], { dtype: 'int32' })).rejects.toThrow(/floating dtype/);
    for (const t of [z, r, n]) t.dispose();
  });

  it('a Generator seed reproduces the same numbers; a different seed does not', async () => {
    const a = await randn([64], { generator: new Generator(7) });
    const b = await randn([64], { generator: new Generator(7) });
    const c = await randn([64], { generator: new Generator(8) });
    expect(Array.from(await a.data())).toEqual(Array.from(await b.data()));
    expect(Array.from(await a.data())).not.toEqual(Array.from(await c.data()));
    const g = new Generator(3);
    const state = g.getState();
    const first = await rand([16], { generator: g });
    g.setState(state);
    const again = await rand([16], { generator: g });
    expect(Array.from(await again.data())).toEqual(Array.from(await first.data()));
    expect(() => g.setState(new Uint8Array(3))).toThrow(/Generator.setState/);
    for (const t of [a, b, c, first, again]) t.dispose();
  });
});

describe('tensor ops against PyTorch', () => {
  it('matmul, add, sub, mul, sum, mean, argmax, cat, index, clone, sign, clamp, normalize, reshape', async () => {
    const g = new Generator(11);
    const a = await randn([5, 7], { dtype: 'float64', generator: g });
    const b = await randn([7, 3], { dtype: 'float64', generator: g });
    const c = await randn([5, 7], { dtype: 'float64', generator: g });
    const idx = tensor(new BigInt64Array([4n, 0n, 2n, 2n]), [4]);
    const ours: Record<string, Tensor> = {
      matmul: await a.matmul(b),
      add: await a.add(c),
      addScalar: await a.add(2.5),
      sub: await a.sub(c),
      mul: await a.mul(c),
      mulScalar: await a.mul(-3),
      sumAll: await a.sum(),
      sum1: await a.sum(1),
      mean0: await a.mean(0, true),
      argmax: await a.argmax(1),
      cat: await cat([a, c], 0),
      index: await a.index(0, idx),
      clone: await a.clone(),
      sign: await a.sign(),
      clamp: await a.clamp(-0.5, 0.25),
      normalize: await a.normalize(1),
      reshape: await a.reshape([7, -1]),
    };
    const ref = torchReference(
      `
import torch.nn.functional as F
a, b, c, idx = inp['a'], inp['b'], inp['c'], inp['idx']
out.update(matmul=a @ b, add=a + c, addScalar=a + 2.5, sub=a - c, mul=a * c, mulScalar=a * -3,
  sumAll=a.sum(), sum1=a.sum(1), mean0=a.mean(0, keepdim=True), argmax=a.argmax(1), cat=torch.cat([a, c], 0),
  index=a.index_select(0, idx), clone=a.clone(), sign=a.sign(), clamp=a.clamp(-0.5, 0.25),
  normalize=F.normalize(a, dim=1), reshape=a.reshape(7, -1))`,
      {
        a: { data: await a.data(), shape: a.shape },
        b: { data: await b.data(), shape: b.shape },
        c: { data: await c.data(), shape: c.shape },
        idx: { data: await idx.data(), shape: idx.shape },
      },
    );
    for (const [name, t] of Object.entries(ours)) {
      expect(t.shape, name).toEqual(ref[name].shape);
      const data = Array.from(await t.data(), Number);
      expect(maxRelError(data, ref[name].data), name).toBeLessThan(1e-12);
      t.dispose();
    }
    for (const t of [a, b, c, idx]) t.dispose();
  });

  it('to() converts dtype and copies; errors name the op', async () => {
    const a = tensor(new Float64Array([1.5, 2.25]), [2]);
    const f = await a.to('float32');
    expect(f.dtype).toBe('float32');
    const same = await a.to('cpu');
    a.dispose();
    expect(Array.from(await same.data())).toEqual([1.5, 2.25]); // a copy survives its source
    const x = tensor(new Float32Array(6), [2, 3]);
    const y = tensor(new Float32Array(8), [4, 2]);
    await expect(x.matmul(y)).rejects.toThrow(/^matmul: .*cannot be multiplied/);
    await expect(x.add(y)).rejects.toThrow(/^add: /);
    await expect(x.matmul(5 as never)).rejects.toThrow(TypeError);
    await expect(x.matmul(5 as never)).rejects.toThrow(/b must be a Tensor, got 5/);
    // Ops that need a floating tensor say so in the kernels' words (TypeError: the dtype is its kind).
    const ints = tensor(new Int32Array([1, 2]), [2]);
    await expect(ints.mean()).rejects.toThrow(TypeError);
    await expect(ints.mean()).rejects.toThrow(/^mean: tensor must be a float32, float64, float16 or bfloat16 Tensor, got a Tensor of shape \[2\] \(int32, cpu\)$/);
    await expect(ints.normalize()).rejects.toThrow(/^normalize: tensor must be a float32, float64, float16 or bfloat16 Tensor, got a Tensor of shape \[2\] \(int32, cpu\)$/);
    ints.dispose();
    for (const t of [f, same, x, y]) t.dispose();
  });

  it('a disposed tensor is an error everywhere, never a crash', async () => {
    const t = tensor(new Float32Array([1, 2]), [2]);
    t.dispose();
    t.dispose(); // idempotent
    expect(t.isDisposed).toBe(true);
    expect(() => t.shape).toThrow(/disposed/);
    await expect(t.clone()).rejects.toThrow(/tensor was disposed/);
    await expect(t.data()).rejects.toThrow(/disposed/);
  });

  it('asking for a CUDA device without one is a clear error', async () => {
    if (cuda.isAvailable()) return; // on a GPU machine the cuda tests below cover it
    await expect(zeros([2], { device: 'cuda' })).rejects.toThrow(/CUDA is not available/);
  });

  it.skipIf(!cuda.isAvailable())('moves tensors to CUDA and back (skipped when no CUDA device is present)', async () => {
    const a = await randn([33, 17], { generator: new Generator(1) });
    const g = await a.to('cuda');
    expect(g.device).toBe('cuda:0');
    const back = await (await g.mul(2)).to('cpu');
    const ad = await a.data();
    const bd = await back.data();
    expect(maxRelError(bd, Array.from(ad, (v) => Number(v) * 2))).toBeLessThan(1e-6);
    const sameSeed = await randn([33, 17], { generator: new Generator(1), device: 'cuda' });
    expect(Array.from(await sameSeed.data())).toEqual(Array.from(ad));
    await expect(zeros([2], { device: 'cuda:99' })).rejects.toThrow(RangeError);
  });
});
