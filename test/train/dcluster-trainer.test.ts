// HEXA_DCluster's trainer rules that the differential test does not isolate: a batch without
// any assignment gives loss 0 (never NaN, pytorch#70348), the prototypes are never trained,
// the bank holds only clean embeddings, and the epoch's clustering reports its statistics.
import { describe, expect, it } from 'vitest';
import { Generator, rand, scope, tensor, type Tensor } from '../../lib/index.js';
import { resolveConfig } from '../../lib/train/config.js';
import { TrainerModel } from '../../lib/train/model.js';

const long = (xs: number[]) => tensor(BigInt64Array.from(xs, BigInt), [xs.length]);
const values = async (t: Tensor) => Array.from(await t.data(), Number);

async function model(extra: Record<string, unknown> = {}) {
  const config = resolveConfig({ method: 'hexa-dcluster', width: 4, outDim: 8, seed: 1, dcluster: { prototypes: [3, 4] }, ...extra });
  return TrainerModel.create(config, { viewSize: 16, datasetSize: 12 });
}

describe('DeepCluster trainer', () => {
  it('before any clustering no image has a target: every loss term is exactly 0, not NaN', async () => {
    await scope(async () => {
      const m = await model({ dcluster: { prototypes: [3, 4], initPass: false } });
      const g = new Generator(4);
      const setup = await m.beginEpoch(0); // an empty bank: nothing to cluster
      expect(setup.bankRows).toBe(0);
      const views = [await rand([4, 3, 16, 16], { generator: g }), await rand([4, 3, 16, 16], { generator: g })];
      const r = await m.stepViews(views, 0.1, { indices: long([0, 1, 2, 3]) });
      expect([r.loss, r.lossClean, r.lossAdv, r.lossMix, r.assigned]).toEqual([0, 0, 0, 0, 0]);
      m.dispose();
    });
  });

  it('a step leaves the prototypes alone and writes the clean embeddings of the large crops to the bank', async () => {
    await scope(async () => {
      const m = await model({ weightDecay: 0 });
      const g = new Generator(5);
      const all = [await rand([12, 3, 16, 16], { generator: g }), await rand([12, 3, 16, 16], { generator: g })];
      await m.observeViews(all, long([...Array(12).keys()]));
      const setup = await m.beginEpoch(0);
      expect(setup.bankRows).toBe(12);
      for (const h of [0, 1]) {
        expect(setup[`kmeans${h}.nonEmpty`]).toBe([3, 4][h]); // re-seeding keeps every cluster alive
        expect(setup[`kmeans${h}.largestShare`]).toBeGreaterThanOrEqual(1 / [3, 4][h]);
        expect(setup[`kmeans${h}.largestShare`]).toBeLessThanOrEqual(1);
        expect(setup[`kmeans${h}.nmi`]).toBeUndefined(); // no earlier clustering to compare with
      }
      const before = await m.state();
      const views = [await rand([4, 3, 16, 16], { generator: g }), await rand([4, 3, 16, 16], { generator: g })];
      const idx = [7, 2, 9, 0];
      // lr 0: the weights stay, so the bank rows can be recomputed by a clean pass afterwards
      const r = await m.stepViews(views, 0, { indices: long(idx) });
      expect(r.assigned).toBe(1);
      expect(r.lossAdv).toBeGreaterThan(0);
      expect(r.lossMix).toBeGreaterThan(0);
      const after = await m.state();
      for (const h of [0, 1]) expect(await values(after[`prototypes.${h}`]), `prototypes.${h}`).toEqual(await values(before[`prototypes.${h}`]));
      expect(await values(after['assignments'])).toEqual(await values(before['assignments']));
      const stepped = await values(after.bank);
      await m.observeViews(views, long(idx)); // the clean embeddings of the same crops
      const clean = await values((await m.state()).bank);
      const rowsOf = (bank: number[], r: number) => [0, 1].flatMap((c) => bank.slice((c * 12 + r) * 8, (c * 12 + r + 1) * 8));
      for (const r of idx) {
        const a = rowsOf(stepped, r), b = rowsOf(clean, r);
        expect(Math.max(...a.map((v, i) => Math.abs(v - b[i]))), `bank row ${r}`).toBeLessThan(1e-6);
        expect(rowsOf(stepped, r)).not.toEqual(rowsOf(await values(before.bank), r)); // and the row did change
      }
      // A second clustering compares itself with the first.
      const next = await m.beginEpoch(1);
      expect(next['kmeans0.nmi']).toBeGreaterThan(0);
      expect(next['kmeans0.nmi']).toBeLessThanOrEqual(1);
      m.dispose();
    });
  });

  it('fp16: a step that overflows writes no bank row and changes no weight; a finite one does both', async () => {
    await scope(async () => {
      const m = await model({ precision: 'fp16' });
      const g = new Generator(6);
      const all = [await rand([12, 3, 16, 16], { generator: g }), await rand([12, 3, 16, 16], { generator: g })];
      await m.observeViews(all, long([...Array(12).keys()]));
      await m.beginEpoch(0);
      const views = [await rand([4, 3, 16, 16], { generator: g }), await rand([4, 3, 16, 16], { generator: g })];
      const weightsAndBank = async () => {
        const s = await m.state();
        const weights = await Promise.all(Object.keys(s).filter((k) => k.endsWith('.weight')).sort().map((k) => values(s[k])));
        return { bank: await values(s.bank), weights };
      };
      const setScale = async (v: number) => {
        const s = await m.state();
        await m.loadState({ ...s, 'grad_scaler.scale': await tensor(new Float32Array([v]), [1]) });
      };
      await setScale(2 ** 127);  // every scaled loss +inf in float32
      const before = await weightsAndBank();
      const skipped = await m.stepViews(views, 0.1, { indices: long([7, 2, 9, 0]) });
      expect([skipped.skipped, skipped.lossScale]).toEqual([1, 2 ** 127]);
      expect(await weightsAndBank()).toEqual(before);
      await setScale(1);  // finite for this network
      const taken = await m.stepViews(views, 0.1, { indices: long([7, 2, 9, 0]) });
      expect([taken.skipped, taken.lossScale]).toEqual([0, 1]);
      const after = await weightsAndBank();
      expect(after.bank).not.toEqual(before.bank);  // this step's rows written
      expect(after.weights).not.toEqual(before.weights);
      m.dispose();
    });
  });

  it('refuses bad views, indices and head sizes with named errors', async () => {
    await scope(async () => {
      const m = await model();
      const v = await rand([4, 3, 16, 16]);
      await expect(m.stepViews([v], 0.1, { indices: long([0, 1, 2, 3]) })).rejects.toThrow(/Trainer.step: views must hold 2 Tensors, got 1/);
      await expect(m.stepViews([v, v], 0.1, { indices: long([0, 1, 2, 12]) })).rejects.toThrow(/indices must be in \[0, 12\), got values in \[0, 12\]/);
      await expect(m.stepViews([v, v], 0.1)).rejects.toThrow(/needs the dataset indices/);
      await expect(m.stepViews([v, await rand([4, 3, 8, 8])], 0.1, { indices: long([0, 1, 2, 3]) })).rejects.toThrow(/the 2 large views must have one shape/);
      m.dispose();
      await expect(model({ dcluster: { prototypes: [13] } })).rejects.toThrow(/createTrainer: options.prototypes\[0\] must be an integer in \[1, 12\], got 13/);
    });
  });
});
