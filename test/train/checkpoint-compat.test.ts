// A checkpoint written by hexa-torch 0.1 (format moco-checkpoint@1, MoCo keys at the top of
// its config; test/fixtures/moco-checkpoint-v1, made by that version's code after 1 epoch)
// resumes with today's trainer and ends bitwise where 0.1 itself ended the same run after 2
// epochs (two-epochs-sha256.json, also made by 0.1).
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { loadSafetensors } from '../../lib/checkpoint/safetensors.js';
import { readCheckpointInfo } from '../../lib/train/checkpoint.js';
import { resolveConfig } from '../../lib/train/config.js';
import { train } from '../../lib/train/run.js';

const fixture = path.join(__dirname, '..', 'fixtures', 'moco-checkpoint-v1');

// Bitwise against a run made at this machine's default thread count: another count
// (HEXA_TEST_THREADS, test/support/threads.ts) adds in another order.
const otherThreads = process.env.HEXA_TEST_THREADS
  ? ' (skipped: HEXA_TEST_THREADS changes the order of additions from the recorded run)' : '';

it.skipIf(otherThreads)(`a hexa-torch 0.1 MoCo checkpoint resumes, and the run ends bitwise where 0.1 ended it${otherThreads}`, async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hexa-compat-'));
  try {
    const ckpt = path.join(tmp, 'checkpoints');
    fs.mkdirSync(ckpt, { recursive: true });
    for (const f of fs.readdirSync(fixture)) if (f !== 'two-epochs-sha256.json') fs.copyFileSync(path.join(fixture, f), path.join(ckpt, f));
    const info = readCheckpointInfo(path.join(ckpt, 'last.json'));
    expect(info.method).toBe('hexa-moco');
    expect(info.config.moco).toEqual({ queueSize: 24, temperature: 0.2, keyMomentum: 0.99, shuffleBN: true }); // keys added since 0.1 take their defaults
    const r = await train(resolveConfig({ out: tmp, resume: true, epochs: 2 }));
    expect(r.globalStep).toBe(4);
    const expected = JSON.parse(fs.readFileSync(path.join(fixture, 'two-epochs-sha256.json'), 'utf8')) as { globalStep: number; hashes: Record<string, string> };
    const now = readCheckpointInfo(path.join(ckpt, 'last.json'));
    expect(now.globalStep).toBe(expected.globalStep);
    const { tensors } = await loadSafetensors(path.join(ckpt, now.weights));
    expect(Object.keys(tensors).sort()).toEqual(Object.keys(expected.hashes).sort());
    const differing: string[] = [];
    for (const [k, t] of Object.entries(tensors)) {
      const h = crypto.createHash('sha256').update(Buffer.from((await t.data()).buffer)).digest('hex');
      if (h !== expected.hashes[k]) differing.push(k);
      t.dispose();
    }
    expect(differing).toEqual([]);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}, 300_000);

it('a checkpoint of an unknown format, or whose config no longer validates, is refused with the reason', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hexa-compat-'));
  try {
    const info = JSON.parse(fs.readFileSync(path.join(fixture, 'last.json'), 'utf8'));
    fs.writeFileSync(path.join(tmp, 'a.json'), JSON.stringify({ ...info, format: 'something-else@9' }));
    expect(() => readCheckpointInfo(path.join(tmp, 'a.json'))).toThrow(/is not a hexa-torch checkpoint \(format "something-else@9", expected hexa-torch\/checkpoint@2\)/);
    fs.writeFileSync(path.join(tmp, 'b.json'), JSON.stringify({ ...info, config: { ...info.config, arch: 'vgg' } }));
    expect(() => readCheckpointInfo(path.join(tmp, 'b.json'))).toThrow(/its config is not valid for this hexa-torch: arch must be one of/);
    fs.writeFileSync(path.join(tmp, 'c.json'), JSON.stringify({ ...info, weights: '../../etc/passwd' }));
    expect(() => readCheckpointInfo(path.join(tmp, 'c.json'))).toThrow(/weights must name a file beside it/);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

it('a checkpoint save removes the temp file a killed save left behind (its weights name is never written again)', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hexa-stale-'));
  try {
    const ckpt = path.join(tmp, 'checkpoints');
    fs.mkdirSync(ckpt, { recursive: true });
    // What a SIGKILL during a save leaves: the step-named weights' temp file of a dead writer.
    const stale = path.join(ckpt, 'last-step00000007.safetensors.tmp-999999999-1');
    fs.writeFileSync(stale, 'partial');
    await train(resolveConfig({ data: 'cifar10', trainSubset: 32, batchSize: 16, epochs: 1, width: 2, moco: { queueSize: 32 }, knnEvery: -1, hardViewStartEpoch: 0, out: tmp }));
    expect(fs.existsSync(stale)).toBe(false);
    expect(fs.readdirSync(ckpt).sort()).toEqual(['last-step00000002.safetensors', 'last.json']);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}, 300_000);
