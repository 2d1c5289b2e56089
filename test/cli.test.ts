// The hexa command: bad input is one clear line and a non-zero exit, never a stack trace.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.join(__dirname, '..');
function hexa(args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'lib', 'cli', 'hexa.ts'), ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });
}

describe('hexa CLI', () => {
  it('hexa info prints versions, variant and devices as JSON', () => {
    const r = hexa(['info']);
    expect(r.status, r.stderr).toBe(0);
    const i = JSON.parse(r.stdout);
    expect(i.libtorch.version).toMatch(/^2\.1[1-4]\./);
    expect(i.devices[0].device).toBe('cpu');
  });

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hexa-cli-'));
  const badConfig = path.join(tmp, 'bad.yaml');
  fs.writeFileSync(badConfig, 'epochs: 2\nlearningRate: 0.1\n');
  const brokenJson = path.join(tmp, 'broken.json');
  fs.writeFileSync(brokenJson, '{ "epochs": ');
  const cases: Array<[string, string[], RegExp, number]> = [
    ['unknown method', ['train', '--method', 'simclr'], /method must be one of 'moco', 'hexa-moco', 'dcluster', 'hexa-dcluster', got 'simclr'/, 2],
    ['unknown arch', ['train', '--arch', 'vgg16'], /arch must be one of 'resnet18', 'resnet50', got 'vgg16'/, 2],
    ['negative epochs', ['train', '--epochs', '-3'], /epochs must be an integer in \[0, 1000000\], got '-3'/, 2],
    ['a flag that does not exist', ['train', '--learning-rate', '0.1'], /unknown option --learning-rate/, 2],
    ['a config key that does not exist', ['train', '--config', badConfig], /unknown config key 'learningRate'/, 2],
    ['a config file that is not valid JSON', ['train', '--config', brokenJson], /is not valid JSON/, 2],
    ['a missing config file', ['train', '--config', path.join(tmp, 'nope.json')], /cannot read config file/, 2],
    ['batch larger than the data', ['train', '--train-subset', '10', '--batch-size', '64'], /batchSize 64 is larger than the 10 training images/, 1],
    ['an unreadable folder', ['train', '--data', path.join(tmp, 'no-such-folder')], /no-such-folder/, 1],
    ['an empty folder', ['train', '--data', tmp + '/empty'], /empty|no images|does not exist/, 1],
    ['an unknown command', ['fly'], /unknown command 'fly'/, 2],
  ];
  fs.mkdirSync(path.join(tmp, 'empty'));
  it.each(cases)('%s: one line, exit code %#', (_name, args, message, code) => {
    const r = hexa(args);
    expect(r.status).toBe(code);
    const lines = r.stderr.trim().split('\n').filter((l) => !/^hexa: (resuming )?(hexa-)?(moco|dcluster) on/.test(l));
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^hexa: /);
    expect(lines[0]).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('--resume takes the run\'s config from its checkpoint; only safe flags may change, others are refused', () => {
    const out = path.join(tmp, 'resumed');
    const tiny = ['--method', 'hexa-dcluster', '--train-subset', '32', '--batch-size', '16', '--width', '2', '--dcluster.prototypes', '2,2', '--knn-every', '-1', '--baselines', 'false', '--hard-view-start-epoch', '0', '--lr', '0.2'];
    const first = hexa(['train', ...tiny, '--epochs', '1', '--out', out]);
    expect(first.status, first.stderr).toBe(0);
    // Nothing but --out and --resume: the saved run (hexa-dcluster, 2 heads, ...) continues,
    // not the embedded HEXA_MoCo preset.
    const refused = hexa(['train', '--out', out, '--resume', '--lr', '0.5']);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/--resume: lr is 0.2 in .*last.json, got 0.5; a resumed run keeps its config/);
    const again = hexa(['train', '--out', out, '--resume', '--epochs', '2', '--lr', '0.2']);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/resuming hexa-dcluster on cifar10 \(first 32 images\), resnet18 width 2, 2 epochs/);
    expect(again.stderr).toMatch(/resumed from .*last.json at epoch 2, step 0/);
    const steps = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((m) => m.type === 'step');
    expect(steps.map((m) => m.globalStep)).toEqual([0, 1, 2, 3]);
  }, 300_000);

  it('a second run on the same --out is refused while the first holds it', () => {
    const out = path.join(tmp, 'locked');
    fs.mkdirSync(out, { recursive: true });
    // A live process's pid in the lock file: this test process itself.
    fs.writeFileSync(path.join(out, '.hexa-run.lock'), `${process.pid}\n`);
    const r = hexa(['train', '--train-subset', '32', '--batch-size', '16', '--width', '2', '--out', out]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`is in use by another hexa-torch run \\(pid ${process.pid}\\)`));
    // A lock whose process is gone is taken over.
    fs.writeFileSync(path.join(out, '.hexa-run.lock'), '999999999\n');
    const ok = hexa(['train', '--train-subset', '32', '--batch-size', '16', '--width', '2', '--epochs', '1', '--hard-view-start-epoch', '0', '--knn-every', '-1', '--baselines', 'false', '--out', out]);
    expect(ok.status, ok.stderr).toBe(0);
    expect(fs.existsSync(path.join(out, '.hexa-run.lock'))).toBe(false);
  }, 300_000);
});
