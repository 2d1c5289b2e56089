import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { data } from '../../lib/index.js';
import { idx } from '../support/idx.js';

const { loadMnist, readIdx } = data;
const dir = mkdtempSync(join(tmpdir(), 'hexa-mnist-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, bytes: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

const N = 7;
const H = 28;
const W = 28;
const pixels = Uint8Array.from({ length: N * H * W }, (_, i) => (i * 131 + 7) % 256);
const digits = Uint8Array.from([3, 1, 4, 1, 5, 9, 2]);
const imagesPath = write('images-idx3-ubyte', idx(0x08, [N, H, W], pixels));
const labelsPath = write('labels-idx1-ubyte', idx(0x08, [N], digits));

describe('loadMnist', () => {
  it('reads 1x28x28 images and their labels', async () => {
    const ds = await loadMnist({ images: imagesPath, labels: labelsPath });
    expect([ds.name, ds.size, ds.channels, ds.height, ds.width]).toEqual(['mnist', N, 1, H, W]);
    expect(ds.classes).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    const b = await ds.batch([6, 0, 3]);
    expect(b.shape).toEqual([3, 1, H, W]);
    const img = (i: number) => [...pixels.subarray(i * H * W, (i + 1) * H * W)];
    expect([...b.images]).toEqual([...img(6), ...img(0), ...img(3)]);
    expect([...b.labels]).toEqual([2, 3, 1]);
  });

  it('reads gzipped files the same (recognised by content, not by name)', async () => {
    const gzImages = write('images.gz', gzipSync(idx(0x08, [N, H, W], pixels)));
    const gzLabels = write('labels-gzipped-without-extension', gzipSync(idx(0x08, [N], digits)));
    const plain = await loadMnist({ images: imagesPath, labels: labelsPath });
    const gz = await loadMnist({ images: gzImages, labels: gzLabels });
    const all = [...Array(N).keys()];
    expect(await gz.batch(all)).toEqual(await plain.batch(all));
  });

  it('takes other image sizes and class names (Fashion-MNIST style), and no labels', async () => {
    const small = write('small-idx3', idx(0x08, [2, 3, 5], Uint8Array.from({ length: 30 }, (_, i) => i)));
    const smallLabels = write('small-idx1', idx(0x08, [2], Uint8Array.of(1, 0)));
    const ds = await loadMnist({ images: small, labels: smallLabels, classes: ['shirt', 'shoe'], name: 'fashion' });
    expect([ds.name, ds.height, ds.width, ds.classes]).toEqual(['fashion', 3, 5, ['shirt', 'shoe']]);
    expect([...(await ds.batch([1])).images]).toEqual([...Array(15).keys()].map((i) => i + 15));
    const unlabeled = await loadMnist({ images: small });
    expect(unlabeled.classes).toBeNull();
    expect([...(await unlabeled.batch([0, 1])).labels]).toEqual([-1, -1]);
  });

  it('explains malformed files: magic, type, truncation, shapes, counts, label range', async () => {
    const bad = async (images: Uint8Array, labels?: Uint8Array) =>
      loadMnist({ images: write('bad-images', images), labels: labels && write('bad-labels', labels) });
    const wrongMagic = idx(0x08, [N, H, W], pixels);
    wrongMagic[0] = 0x08;
    await expect(bad(wrongMagic)).rejects.toThrow(/bad-images.*magic number/);
    await expect(bad(idx(0x07, [N, H, W], pixels))).rejects.toThrow(/unknown type byte 0x07/);
    await expect(bad(idx(0x08, [N, H, W], pixels.subarray(1)))).rejects.toThrow(/truncated/);
    await expect(bad(Uint8Array.of(0, 0, 8))).rejects.toThrow(/fewer than the 4-byte magic/);
    await expect(bad(idx(0x08, [N * H * W], pixels))).rejects.toThrow(/idx3-ubyte/);
    await expect(bad(idx(0x08, [N, H, W], pixels), idx(0x08, [N - 1], digits.subarray(1)))).rejects.toThrow(/6 labels but .* 7 images/);
    await expect(bad(idx(0x08, [N, H, W], pixels), idx(0x08, [N], Uint8Array.of(3, 1, 4, 10, 5, 9, 2)))).rejects.toThrow(/label 3 is 10/);
    await expect(bad(idx(0x08, [N, H, W], pixels), idx(0x0c, [N], new Uint8Array(4 * N)))).rejects.toThrow(/idx1-ubyte/);
    await expect(bad(Uint8Array.of(0x1f, 0x8b, 1, 2, 3))).rejects.toThrow(/gzip/);
    await expect(loadMnist({ images: join(dir, 'no-such-file') })).rejects.toThrow(/no-such-file/);
  });

  it('rejects bad options naming the argument', async () => {
    await expect(loadMnist(undefined as unknown as data.MnistOptions)).rejects.toThrow(TypeError);
    await expect(loadMnist({} as data.MnistOptions)).rejects.toThrow(/options\.images/);
    await expect(loadMnist({ images: imagesPath, labels: 3 as unknown as string })).rejects.toThrow(/options\.labels/);
    await expect(loadMnist({ images: imagesPath, labels: labelsPath, classes: [] })).rejects.toThrow(/classes/);
  });
});

describe('readIdx', () => {
  it('reads big-endian int16, int32, float32 and float64 values', async () => {
    const be = Buffer.alloc(2 * 4 + 3 * 8);
    be.writeInt16BE(-2, 0);
    be.writeInt16BE(300, 2);
    be.writeInt32BE(-70000, 4);
    be.writeDoubleBE(Math.PI, 8);
    be.writeDoubleBE(-0.25, 16);
    be.writeDoubleBE(1e300, 24);
    expect(await readIdx(write('i16', idx(0x0b, [2], be.subarray(0, 4))))).toEqual({ dtype: 'int16', dims: [2], data: Int16Array.of(-2, 300) });
    expect((await readIdx(write('i32', idx(0x0c, [1], be.subarray(4, 8))))).data).toEqual(Int32Array.of(-70000));
    expect((await readIdx(write('f64', idx(0x0e, [3, 1], be.subarray(8, 32))))).data).toEqual(Float64Array.of(Math.PI, -0.25, 1e300));
    const f32 = Buffer.alloc(4);
    f32.writeFloatBE(1.5, 0);
    expect((await readIdx(write('f32', idx(0x0d, [1, 1, 1], f32)))).data).toEqual(Float32Array.of(1.5));
  });
});
