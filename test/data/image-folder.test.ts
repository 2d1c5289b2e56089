import { mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { data } from '../../lib/index.js';

const { loadImageFolder, BatchLoader } = data;
type Warning = data.DataWarning;

const root = mkdtempSync(join(tmpdir(), 'hexa-folder-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

type RGB = [number, number, number];
/** A w x h image of one colour (3 channels, or 4 with the given alpha). */
function solid(w: number, h: number, [r, g, b]: RGB, alpha?: number) {
  const channels = alpha === undefined ? 3 : 4;
  const px = Buffer.alloc(w * h * channels);
  for (let p = 0; p < w * h; p++) px.set(alpha === undefined ? [r, g, b] : [r, g, b, alpha], p * channels);
  return sharp(px, { raw: { width: w, height: h, channels } });
}
/** Vertical stripes of the given colours, each `stripe` pixels wide. */
function stripes(colours: RGB[], stripe: number, h: number) {
  const w = colours.length * stripe;
  const px = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) px.set(colours[Math.floor(x / stripe)], (y * w + x) * 3);
  return sharp(px, { raw: { width: w, height: h, channels: 3 } });
}
/** The colour of pixel (y, x) of image k of a CHW batch. */
function pixel(images: Uint8Array, k: number, h: number, w: number, y: number, x: number): RGB {
  const plane = h * w;
  const base = k * 3 * plane + y * w + x;
  return [images[base], images[base + plane], images[base + 2 * plane]];
}
const near = (got: RGB, want: RGB, tol: number) => got.every((v, c) => Math.abs(v - want[c]) <= tol);

const RED: RGB = [250, 10, 20];
const GREEN: RGB = [15, 240, 30];
const BLUE: RGB = [5, 20, 245];
const classified = join(root, 'classified');

beforeAll(async () => {
  // classified/: bird (2 images, one nested), cat (3 images + a corrupt one + a text file), dog (1)
  for (const c of ['cat', 'dog', 'bird', 'bird/young']) mkdirSync(join(classified, c), { recursive: true });
  await solid(40, 30, RED).png().toFile(join(classified, 'cat', 'a.png'));
  await solid(17, 33, RED).jpeg({ quality: 95 }).toFile(join(classified, 'cat', 'b.jpg'));
  writeFileSync(join(classified, 'cat', 'c-broken.jpg'), Buffer.from('this is no JPEG at all'));
  await solid(20, 20, RED).webp({ lossless: true }).toFile(join(classified, 'cat', 'd.webp'));
  writeFileSync(join(classified, 'cat', 'notes.txt'), 'not an image, not listed');
  await solid(25, 25, BLUE).png().toFile(join(classified, 'dog', 'a.PNG'));
  await solid(8, 8, GREEN).png().toFile(join(classified, 'bird', 'a.png'));
  await solid(8, 8, GREEN).png().toFile(join(classified, 'bird', 'young', 'b.png'));
});

describe('loadImageFolder', () => {
  it('lists classes from sorted subfolders and images below them in a fixed order', async () => {
    const warnings: Warning[] = [];
    const ds = await loadImageFolder(classified, { size: 12, onWarning: (w) => warnings.push(w) });
    expect(ds.classes).toEqual(['bird', 'cat', 'dog']);
    expect([ds.name, ds.size, ds.channels, ds.height, ds.width]).toEqual(['classified', 7, 3, 12, 12]);
    expect(ds.files.map((f) => f.slice(classified.length + 1))).toEqual([
      'bird/a.png', 'bird/young/b.png', 'cat/a.png', 'cat/b.jpg', 'cat/c-broken.jpg', 'cat/d.webp', 'dog/a.PNG',
    ]);
    expect(warnings).toEqual([]); // nothing decoded yet: files are checked lazily
    const b = await ds.batch([0, 2, 3, 5, 6, 1]);
    expect(b.shape).toEqual([6, 3, 12, 12]);
    expect([...b.labels]).toEqual([0, 1, 1, 1, 2, 0]);
    const want = [GREEN, RED, RED, RED, BLUE, GREEN];
    for (let k = 0; k < 6; k++) for (const [y, x] of [[0, 0], [5, 7], [11, 11]]) expect(near(pixel(b.images, k, 12, 12, y, x), want[k], 6)).toBe(true);
  });

  it('reports a corrupt file once, skips it for the next good image, and never crashes', async () => {
    const warnings: Warning[] = [];
    const ds = await loadImageFolder(classified, { size: [6, 9], onWarning: (w) => warnings.push(w) });
    const broken = ds.files.findIndex((f) => f.endsWith('c-broken.jpg'));
    const next = await ds.batch([broken + 1]);
    const b = await ds.batch([broken, broken, 0]);
    expect(b.shape).toEqual([3, 3, 6, 9]);
    expect(b.images.subarray(0, 162)).toEqual(next.images); // the next good image (cat/d.webp)
    expect(b.images.subarray(162, 324)).toEqual(next.images);
    expect([...b.labels]).toEqual([1, 1, 0]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0].path).toBe(ds.files[broken]);
    expect(warnings[0].reason).toMatch(/cannot be read or decoded .*skipped/);
    // a whole epoch, twice, through the loader: still one warning, size unchanged
    const loader = new BatchLoader(ds, { batchSize: 3, seed: 9 });
    for (const epoch of [0, 1]) for await (const batch of loader.batches(epoch)) expect(batch.labels.every((l) => l >= 0 && l <= 2)).toBe(true);
    expect(warnings).toHaveLength(1);
    expect(ds.size).toBe(7);
    expect(ds.skipped).toEqual(warnings);
  });

  it('default warning goes to console.warn with path and reason', async () => {
    const ds = await loadImageFolder(classified, { size: 4 });
    const logged: string[] = [];
    const original = console.warn;
    console.warn = (msg: string) => logged.push(msg);
    try {
      await ds.batch(ds.files.map((_, i) => i));
      await ds.batch(ds.files.map((_, i) => i));
    } finally {
      console.warn = original;
    }
    expect(logged).toHaveLength(1);
    expect(logged[0]).toContain('c-broken.jpg');
  });

  it("validate: 'headers' leaves unreadable files out of the index at load", async () => {
    const warnings: Warning[] = [];
    const ds = await loadImageFolder(classified, { size: 4, validate: 'headers', onWarning: (w) => warnings.push(w) });
    expect(ds.size).toBe(6);
    expect(ds.files.some((f) => f.endsWith('c-broken.jpg'))).toBe(false);
    expect(warnings.map((w) => w.path)).toEqual([join(classified, 'cat', 'c-broken.jpg')]);
    expect(warnings[0].reason).toMatch(/left out/);
    await ds.batch([0, 1, 2, 3, 4, 5]);
    expect(warnings).toHaveLength(1);
  });

  it("fit 'cover' keeps the aspect ratio and crops the centre; 'fill' stretches", async () => {
    const dir = join(root, 'aspect');
    mkdirSync(dir);
    // 120 x 40: red | green | blue stripes 40 wide; output 20 x 20
    await stripes([RED, GREEN, BLUE], 40, 40).png().toFile(join(dir, 'stripes.png'));
    const cover = await (await loadImageFolder(dir, { size: 20, classes: 'none' })).batch([0]);
    const fill = await (await loadImageFolder(dir, { size: 20, classes: 'none', fit: 'fill' })).batch([0]);
    for (const y of [0, 10, 19]) {
      // cover: scaled to 60 x 20, centre 20 columns = the green stripe
      for (const x of [4, 10, 15]) expect(near(pixel(cover.images, 0, 20, 20, y, x), GREEN, 12)).toBe(true);
      // fill: all three stripes, squeezed
      expect(near(pixel(fill.images, 0, 20, 20, y, 1), RED, 12)).toBe(true);
      expect(near(pixel(fill.images, 0, 20, 20, y, 10), GREEN, 12)).toBe(true);
      expect(near(pixel(fill.images, 0, 20, 20, y, 18), BLUE, 12)).toBe(true);
    }
    expect(cover.labels[0]).toBe(-1);
  });

  it('gives 3 channels for grayscale (repeated) and alpha (flattened onto black)', async () => {
    const dir = join(root, 'channels');
    mkdirSync(dir);
    await sharp(Buffer.alloc(10 * 10, 77), { raw: { width: 10, height: 10, channels: 1 } }).png().toFile(join(dir, 'a-gray.png'));
    await solid(10, 10, [200, 100, 50], 0).png().toFile(join(dir, 'b-transparent.png'));
    await solid(10, 10, [200, 100, 50], 255).png().toFile(join(dir, 'c-opaque.png'));
    await solid(10, 10, [200, 100, 50], 128).webp({ lossless: true }).toFile(join(dir, 'd-half.webp'));
    const ds = await loadImageFolder(dir, { size: 5, classes: 'none' });
    expect(ds.classes).toBeNull();
    const b = await ds.batch([0, 1, 2, 3]);
    expect(pixel(b.images, 0, 5, 5, 2, 2)).toEqual([77, 77, 77]);
    expect(pixel(b.images, 1, 5, 5, 2, 2)).toEqual([0, 0, 0]);
    expect(pixel(b.images, 2, 5, 5, 2, 2)).toEqual([200, 100, 50]);
    expect(near(pixel(b.images, 3, 5, 5, 2, 2), [100, 50, 25], 2)).toBe(true); // 128/255 of the colour
    expect([...b.labels]).toEqual([-1, -1, -1, -1]);
  });

  it('caches decoded images up to cacheBytes', async () => {
    const dir = join(root, 'cache');
    mkdirSync(join(dir, 'x'), { recursive: true });
    for (const k of [0, 1, 2]) await solid(6, 6, [k * 50, 0, 0]).png().toFile(join(dir, 'x', `${k}.png`));
    const warnings: Warning[] = [];
    const bytes = 3 * 4 * 4;
    const ds = await loadImageFolder(dir, { size: 4, cacheBytes: 2 * bytes, onWarning: (w) => warnings.push(w) });
    // one at a time, so which images the first-come cache keeps is fixed: 0 and 1
    const decoded = [await ds.batch([0]), await ds.batch([1]), await ds.batch([2])];
    const before = { images: Buffer.concat(decoded.map((d) => d.images)) };
    for (const k of [0, 1, 2]) unlinkSync(join(dir, 'x', `${k}.png`));
    // 0 and 1 fit the budget and come from memory; 2 does not and is now missing on disk
    const after = await ds.batch([0, 1, 2]);
    expect(Buffer.from(after.images.subarray(0, 2 * bytes)).equals(before.images.subarray(0, 2 * bytes))).toBe(true);
    expect(warnings.map((w) => w.path)).toEqual([join(dir, 'x', '2.png')]);
    expect(Buffer.from(after.images.subarray(2 * bytes)).equals(before.images.subarray(0, bytes))).toBe(true); // wrapped to image 0
  });

  it('stopping an epoch early drops the prefetched decodes not yet started', async () => {
    const dir = join(root, 'many');
    mkdirSync(join(dir, 'x'), { recursive: true });
    for (let k = 0; k < 24; k++) await solid(64, 64, [k * 10, 0, 0]).png().toFile(join(dir, 'x', `${String(k).padStart(2, '0')}.png`));
    const warnings: Warning[] = [];
    const ds = await loadImageFolder(dir, { size: 32, concurrency: 1, onWarning: (w) => warnings.push(w) });
    const loader = new BatchLoader(ds, { batchSize: 4, prefetch: 2, shuffle: false });
    for await (const b of loader.batches(0)) if (b.step === 0) break;
    // Steps 1 and 2 (8 decodes) were queued. Every file is gone now: a decode that still ran
    // would fail and warn. At most the one holding the single slot may have been under way.
    for (let k = 0; k < 24; k++) unlinkSync(join(dir, 'x', `${String(k).padStart(2, '0')}.png`));
    await new Promise((r) => setTimeout(r, 300));
    expect(warnings.length).toBeLessThanOrEqual(1);
  });

  it('errors clearly on a missing folder, a file, an empty folder, and no images', async () => {
    await expect(loadImageFolder(join(root, 'missing'), { size: 8 })).rejects.toThrow(/missing does not exist/);
    const file = join(root, 'file.png');
    writeFileSync(file, 'x');
    await expect(loadImageFolder(file, { size: 8 })).rejects.toThrow(/file\.png is not a folder/);
    const empty = join(root, 'empty');
    mkdirSync(empty);
    await expect(loadImageFolder(empty, { size: 8 })).rejects.toThrow(/empty has no class subfolders/);
    await expect(loadImageFolder(empty, { size: 8, classes: 'none' })).rejects.toThrow(/no images .* in .*empty/);
    const textOnly = join(root, 'text-only');
    mkdirSync(join(textOnly, 'a'), { recursive: true });
    writeFileSync(join(textOnly, 'a', 'readme.txt'), 'x');
    await expect(loadImageFolder(textOnly, { size: 8 })).rejects.toThrow(/no images .*text-only/);
    const allBad = join(root, 'all-bad');
    mkdirSync(allBad);
    writeFileSync(join(allBad, 'a.jpg'), 'x');
    writeFileSync(join(allBad, 'b.png'), 'y');
    const warnings: Warning[] = [];
    const ds = await loadImageFolder(allBad, { size: 8, classes: 'none', onWarning: (w) => warnings.push(w) });
    await expect(ds.batch([0])).rejects.toThrow(/none of the 2 images/);
    expect(warnings).toHaveLength(2);
    await expect(loadImageFolder(allBad, { size: 8, classes: 'none', validate: 'headers', onWarning: () => {} })).rejects.toThrow(/no readable images/);
  });

  it('warns about images outside class folders and about empty classes', async () => {
    const dir = join(root, 'loose');
    mkdirSync(join(dir, 'a'), { recursive: true });
    mkdirSync(join(dir, 'b'));
    await solid(4, 4, RED).png().toFile(join(dir, 'stray.png'));
    await solid(4, 4, RED).png().toFile(join(dir, 'a', '1.png'));
    const warnings: Warning[] = [];
    const ds = await loadImageFolder(dir, { size: 4, onWarning: (w) => warnings.push(w) });
    expect(ds.classes).toEqual(['a', 'b']);
    expect(ds.size).toBe(1);
    expect(warnings.map((w) => w.path)).toEqual([dir, join(dir, 'b')]);
  });

  it('rejects bad arguments naming them', async () => {
    await expect(loadImageFolder(classified, { size: -1 })).rejects.toThrow(RangeError);
    await expect(loadImageFolder(classified, { size: -1 })).rejects.toThrow(/options\.size/);
    await expect(loadImageFolder(classified, { size: [4, 0] })).rejects.toThrow(/options\.size\[1\]/);
    await expect(loadImageFolder(classified, { size: 'big' as unknown as number })).rejects.toThrow(TypeError);
    await expect(loadImageFolder(classified, undefined as unknown as data.ImageFolderOptions)).rejects.toThrow(/options/);
    await expect(loadImageFolder(classified, { size: 4, classes: 'folders' as 'none' })).rejects.toThrow(/options\.classes/);
    await expect(loadImageFolder(classified, { size: 4, fit: 'contain' as 'fill' })).rejects.toThrow(/options\.fit/);
    await expect(loadImageFolder(classified, { size: 4, concurrency: 0 })).rejects.toThrow(/options\.concurrency/);
    await expect(loadImageFolder(classified, { size: 4, cacheBytes: -5 })).rejects.toThrow(/options\.cacheBytes/);
    await expect(loadImageFolder(classified, { size: 4, onWarning: 'log' as unknown as () => void })).rejects.toThrow(/options\.onWarning/);
    await expect(loadImageFolder(42 as unknown as string, { size: 4 })).rejects.toThrow(/dir/);
    const ds = await loadImageFolder(classified, { size: 4, onWarning: () => {} });
    await expect(ds.batch([])).rejects.toThrow(/indices/);
    await expect(ds.batch([7])).rejects.toThrow(RangeError);
  });

  it('follows links without looping, duplicating or moving images between classes; each skipped link is a warning', async () => {
    // links/  bird/ twice1 -> outside/shared, twice2 -> outside/shared   (one folder, two links)
    //         cat/  a.png, loop -> .. (the dataset), self -> ., sub/ b.png, sub/up -> ../..
    //         dog/  c.png, tocat -> ../cat (another class), dup.png -> ../cat/a.png (a listed file)
    //         ext -> outside/ext (a class folder outside): e.png, again -> . (a loop outside)
    const dir = join(root, 'links');
    const outside = join(root, 'links-outside');
    for (const d of ['cat/sub', 'dog', 'bird']) mkdirSync(join(dir, d), { recursive: true });
    for (const d of ['shared', 'ext']) mkdirSync(join(outside, d), { recursive: true });
    await solid(4, 4, RED).png().toFile(join(dir, 'cat', 'a.png'));
    await solid(4, 4, RED).png().toFile(join(dir, 'cat', 'sub', 'b.png'));
    await solid(4, 4, BLUE).png().toFile(join(dir, 'dog', 'c.png'));
    await solid(4, 4, GREEN).png().toFile(join(outside, 'shared', 's.png'));
    await solid(4, 4, GREEN).png().toFile(join(outside, 'ext', 'e.png'));
    symlinkSync('..', join(dir, 'cat', 'loop'));
    symlinkSync('.', join(dir, 'cat', 'self'));
    symlinkSync('../..', join(dir, 'cat', 'sub', 'up'));
    symlinkSync('../cat', join(dir, 'dog', 'tocat'));
    symlinkSync('../cat/a.png', join(dir, 'dog', 'dup.png'));
    symlinkSync(join(outside, 'ext'), join(dir, 'ext'));
    symlinkSync('.', join(outside, 'ext', 'again'));
    symlinkSync(join(outside, 'shared'), join(dir, 'bird', 'twice1'));
    symlinkSync(join(outside, 'shared'), join(dir, 'bird', 'twice2'));
    const warnings: Warning[] = [];
    const ds = await loadImageFolder(dir, { size: 4, onWarning: (w) => warnings.push(w) });
    expect(ds.classes).toEqual(['bird', 'cat', 'dog', 'ext']);
    expect(ds.files.map((f) => f.slice(dir.length + 1))).toEqual(['bird/twice1/s.png', 'cat/a.png', 'cat/sub/b.png', 'dog/c.png', 'ext/e.png']);
    const b = await ds.batch([0, 1, 2, 3, 4]);
    expect([...b.labels]).toEqual([0, 1, 1, 2, 3]);
    expect(warnings.map((w) => w.path.slice(dir.length + 1)).sort()).toEqual(
      ['bird/twice2', 'cat/loop', 'cat/self', 'cat/sub/up', 'dog/dup.png', 'dog/tocat', 'ext/again'].sort(),
    );
    const reason = (p: string) => warnings.find((w) => w.path === join(dir, p))!.reason;
    expect(reason('cat/loop')).toMatch(/is the dataset folder or a folder above it \(a loop\): not followed/);
    expect(reason('cat/self')).toMatch(/links to a folder inside the dataset, which is listed where it is: not followed/);
    expect(reason('ext/again')).toMatch(/was listed already \(a loop, or a second link to one folder\): not followed/);
    expect(reason('dog/tocat')).toMatch(/links to a folder inside the dataset, which is listed where it is: not followed/);
    expect(reason('dog/dup.png')).toMatch(/links to an image that is listed itself/);
    expect(reason('bird/twice2')).toMatch(/was listed already/);
    // classes: 'none' over the same tree: every real image once, no loop.
    const flat = await loadImageFolder(dir, { size: 4, classes: 'none', onWarning: () => {} });
    expect(flat.files.map((f) => f.slice(dir.length + 1))).toEqual(['bird/twice1/s.png', 'cat/a.png', 'cat/sub/b.png', 'dog/c.png', 'ext/e.png']);
  }, 30_000);

  it('reads files whose names are not valid UTF-8 (shown with U+FFFD in files and warnings)', async () => {
    const dir = join(root, 'bytes');
    mkdirSync(join(dir, 'a'), { recursive: true });
    const png = await solid(6, 6, BLUE).png().toBuffer();
    // 'caf\xe9.png' in Latin-1: the byte 0xE9 alone is not UTF-8.
    const name = Buffer.concat([Buffer.from(join(dir, 'a') + '/caf'), Buffer.from([0xe9]), Buffer.from('.png')]);
    writeFileSync(name, png);
    await solid(6, 6, RED).png().toFile(join(dir, 'a', 'z.png'));
    for (const validate of ['lazy', 'headers'] as const) {
      const warnings: Warning[] = [];
      const ds = await loadImageFolder(dir, { size: 6, validate, onWarning: (w) => warnings.push(w) });
      expect(ds.files).toEqual([join(dir, 'a', 'caf\uFFFD.png'), join(dir, 'a', 'z.png')]);
      const b = await ds.batch([0, 1]);
      expect(warnings).toEqual([]);
      expect(near(pixel(b.images, 0, 6, 6, 3, 3), BLUE, 6)).toBe(true);
      expect(near(pixel(b.images, 1, 6, 6, 3, 3), RED, 6)).toBe(true);
    }
  });

  it('decodes a batch of many files on one signal without a MaxListenersExceededWarning', async () => {
    const dir = join(root, 'wide');
    mkdirSync(join(dir, 'x'), { recursive: true });
    for (let k = 0; k < 40; k++) await solid(4, 4, [k, 0, 0]).png().toFile(join(dir, 'x', `${String(k).padStart(2, '0')}.png`));
    const seen: string[] = [];
    const onWarning = (w: Error) => seen.push(w.name);
    process.on('warning', onWarning);
    try {
      const ds = await loadImageFolder(dir, { size: 4, concurrency: 1 });
      const loader = new BatchLoader(ds, { batchSize: 40, prefetch: 0, shuffle: false });
      for await (const b of loader.batches(0)) expect(b.shape).toEqual([40, 3, 4, 4]);
      await new Promise((r) => setImmediate(r));
      expect(seen).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });
});
