import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { data } from '../../lib/index.js';

const { loadCifar10 } = data;
// The package's files, found and read here independently of the loader.
const packageDir = join(dirname(createRequire(import.meta.url).resolve('cifar-10/package.json')), 'cifar-10-batches-bin22');
const RECORD = 3073;
const tmp = mkdtempSync(join(tmpdir(), 'hexa-cifar-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A folder with the test split's files, test_batch.bin changed by `edit` (the rest linked). */
function folderWith(name: string, edit?: (bytes: Buffer) => Buffer): string {
  const dir = join(tmp, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  symlinkSync(join(packageDir, 'batches.meta.txt'), join(dir, 'batches.meta.txt'));
  if (edit) writeFileSync(join(dir, 'test_batch.bin'), edit(readFileSync(join(packageDir, 'test_batch.bin'))));
  else copyFileSync(join(packageDir, 'test_batch.bin'), join(dir, 'test_batch.bin'));
  return dir;
}

describe('loadCifar10', () => {
  it('loads the train split: 50000 3x32x32 images, labels 0..9, 5000 per class', async () => {
    const t0 = performance.now();
    const ds = await loadCifar10({ split: 'train' });
    const ms = performance.now() - t0;
    expect([ds.name, ds.size, ds.channels, ds.height, ds.width]).toEqual(['cifar10-train', 50000, 3, 32, 32]);
    const { labels } = await ds.batch(Uint32Array.from({ length: 50000 }, (_, i) => i));
    const counts = new Array(10).fill(0);
    for (const l of labels) counts[l]++;
    expect(counts).toEqual(new Array(10).fill(5000)); // CIFAR-10 is balanced: 6000 per class, 1000 of them in test
    expect(ms).toBeLessThan(15000); // 150 MB read + MD5: about a second on a laptop
  });

  it('loads the test split with the class names of batches.meta.txt', async () => {
    const ds = await loadCifar10({ split: 'test' });
    expect(ds.size).toBe(10000);
    const meta = readFileSync(join(packageDir, 'batches.meta.txt'), 'utf8').split('\n').filter((s) => s.trim());
    expect(ds.classes).toEqual(meta);
    expect(ds.classes).toEqual([...data.CIFAR10_CLASSES]);
    const { labels } = await ds.batch(Uint32Array.from({ length: 10000 }, (_, i) => i));
    expect(Math.min(...labels)).toBe(0);
    expect(Math.max(...labels)).toBe(9);
    expect(labels.filter((l) => l === 3).length).toBe(1000);
  });

  it('returns the raw records: label and CHW pixels as the files hold them', async () => {
    const test = readFileSync(join(packageDir, 'test_batch.bin'));
    const train3 = readFileSync(join(packageDir, 'data_batch_3.bin'));
    const testSet = await loadCifar10({ split: 'test', verify: false });
    const trainSet = await loadCifar10({ verify: false });
    const first = await testSet.batch([0]);
    expect(first.labels[0]).toBe(test[0]);
    expect(Buffer.from(first.images).equals(test.subarray(1, RECORD))).toBe(true);
    // image 23456 is record 3456 of data_batch_3.bin
    const b = await trainSet.batch([23456, 0]);
    expect(b.labels[0]).toBe(train3[3456 * RECORD]);
    expect(Buffer.from(b.images.subarray(0, 3072)).equals(train3.subarray(3456 * RECORD + 1, 3457 * RECORD))).toBe(true);
    // the red plane comes first: record 0's first 1024 bytes after the label
    expect(Buffer.from(first.images.subarray(0, 1024)).equals(test.subarray(1, 1025))).toBe(true);
  });

  it('reads a user-given folder with the same files', async () => {
    const ds = await loadCifar10({ split: 'test', dir: folderWith('good') });
    const pkg = await loadCifar10({ split: 'test' });
    const idx = [0, 1, 9999, 4321];
    expect(await ds.batch(idx)).toEqual(await pkg.batch(idx));
  });

  it('detects a corrupt copy by its MD5, a truncated one by its size, a missing one by name', async () => {
    const flipped = folderWith('flipped', (b) => {
      b[5000] ^= 1; // one pixel bit
      return b;
    });
    await expect(loadCifar10({ split: 'test', dir: flipped })).rejects.toThrow(/test_batch\.bin has MD5 \w+, expected 803d5f7f4d78ea53de84dbe85f74fb6d: the file is corrupt/);
    // without the MD5 check the same file loads (only sizes and labels are checked) ...
    await expect(loadCifar10({ split: 'test', dir: flipped, verify: false })).resolves.toBeTruthy();
    // ... but a label out of 0..9 is still caught
    const badLabel = folderWith('bad-label', (b) => {
      b[RECORD * 17] = 200;
      return b;
    });
    await expect(loadCifar10({ split: 'test', dir: badLabel, verify: false })).rejects.toThrow(/record 17 has label 200/);
    const truncated = folderWith('truncated', (b) => b.subarray(0, b.length - 1));
    await expect(loadCifar10({ split: 'test', dir: truncated })).rejects.toThrow(/30729999 bytes, expected 30730000/);
    await expect(loadCifar10({ split: 'train', dir: truncated })).rejects.toThrow(/data_batch_1\.bin is missing/);
    const noMeta = folderWith('no-meta');
    rmSync(join(noMeta, 'batches.meta.txt'));
    await expect(loadCifar10({ split: 'test', dir: noMeta })).rejects.toThrow(/batches\.meta\.txt is missing/);
    await expect(loadCifar10({ dir: join(tmp, 'nowhere') })).rejects.toThrow(/nowhere.*does not exist/);
  });

  it('firstImages reads only the files that hold those images', async () => {
    // A folder with data_batch_1.bin alone: enough for the first 10000 images, not for 10001.
    const dir = join(tmp, 'first-file');
    mkdirSync(dir);
    symlinkSync(join(packageDir, 'batches.meta.txt'), join(dir, 'batches.meta.txt'));
    symlinkSync(join(packageDir, 'data_batch_1.bin'), join(dir, 'data_batch_1.bin'));
    const ds = await loadCifar10({ dir, firstImages: 2500 });
    expect(ds.size).toBe(2500);
    const batch1 = readFileSync(join(packageDir, 'data_batch_1.bin'));
    const b = await ds.batch([2499]);
    expect(b.labels[0]).toBe(batch1[2499 * RECORD]);
    expect(Buffer.from(b.images).equals(batch1.subarray(2499 * RECORD + 1, 2500 * RECORD))).toBe(true);
    expect((await loadCifar10({ dir, firstImages: 10000 })).size).toBe(10000);
    await expect(loadCifar10({ dir, firstImages: 10001 })).rejects.toThrow(/data_batch_2\.bin is missing/);
    expect((await loadCifar10({ split: 'test', firstImages: 60000 })).size).toBe(10000); // more than the split: all of it
    await expect(loadCifar10({ firstImages: -1 })).rejects.toThrow(/options\.firstImages/);
  });

  it('rejects bad options naming the argument', async () => {
    await expect(loadCifar10({ split: 'val' as 'test' })).rejects.toThrow(RangeError);
    await expect(loadCifar10({ split: 'val' as 'test' })).rejects.toThrow(/options\.split/);
    await expect(loadCifar10({ dir: 5 as unknown as string })).rejects.toThrow(/options\.dir/);
    await expect(loadCifar10({ verify: 'yes' as unknown as boolean })).rejects.toThrow(TypeError);
    await expect(loadCifar10('train' as unknown as data.Cifar10Options)).rejects.toThrow(/options/);
  });
});
