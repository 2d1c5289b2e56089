// The commands of issue 9 on the command line: every command's --help lists every flag with
// its meaning and default (train's from the config's own doc comments), bad input is one
// clear line, the ETA accounts for the slower hard-view phase, export/eval run end to end.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CONFIG_KEYS, DEFAULTS } from '../lib/train/config.js';
import { interfaceDocs, trainFlagDocs } from '../lib/cli/config-docs.js';
import { EVAL_FLAGS } from '../lib/cli/eval-command.js';
import { HARD_VIEW_COST_PRIOR, PhaseEta } from '../lib/cli/eta.js';
import type { StepLog } from '../lib/train/run.js';

const root = path.join(__dirname, '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hexa-cli-eval-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
function hexa(args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'lib', 'cli', 'hexa.ts'), ...args], { cwd: root, encoding: 'utf8', timeout: 240_000 });
}

describe('--help', () => {
  it('hexa train --help lists every config key and section key with its doc and default', () => {
    const r = hexa(['train', '--help']);
    expect(r.status, r.stderr).toBe(0);
    const docs = interfaceDocs();
    for (const key of CONFIG_KEYS) {
      expect(docs.TrainConfig[key], `TrainConfig.${key} has no doc comment`).toBeTruthy();
      const flag = trainFlagDocs().find((f) => f.name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()) === key)!;
      expect(r.stdout).toContain(`--${flag.name} `);
      const section = (DEFAULTS as unknown as Record<string, unknown>)[key];
      if (section && typeof section === 'object' && !Array.isArray(section)) {
        for (const sub of Object.keys(section)) {
          const f = trainFlagDocs().find((x) => x.name.startsWith(`${key}.`) && x.name.slice(key.length + 1).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()) === sub);
          expect(f?.doc, `${key}.${sub} has no doc comment`).toBeTruthy();
          expect(r.stdout).toContain(`--${f!.name} `);
        }
      }
    }
    // Doc and default come from the code: the lines carry them.
    expect(r.stdout).toMatch(/--epochs +Passes over the training images\. \(default: 200; preset 3\)/);
    expect(r.stdout).toMatch(/--moco\.queue-size +Keys in the dictionary K .*\(default: 4096\)/);
  });

  it('every shown train flag is accepted by the parser (names round-trip)', () => {
    // --epochs 0 with every flag would train; a parse-only check: a flag that does not exist fails before anything runs.
    const r = hexa(['train', '--adversarial.auxBN', 'true', '--moco.queue-size', 'x']);
    expect(r.stderr).toMatch(/queueSize/);
    expect(r.stderr).not.toMatch(/unknown option/);
  });

  it('hexa eval / export / plot / report --help list every flag with its meaning and default', () => {
    const r = hexa(['eval', '--help']);
    expect(r.status).toBe(0);
    for (const f of EVAL_FLAGS) expect(r.stdout).toMatch(new RegExp(`--${f.name} +${f.doc.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(default: `));
    for (const c of ['export', 'plot', 'report']) {
      const h = hexa([c, '--help']);
      expect(h.status).toBe(0);
      expect(h.stdout).toMatch(new RegExp(`usage: hexa ${c} [\\s\\S]*--out +.*\\(default: `));
    }
    expect(hexa(['--help']).stdout).toMatch(/hexa eval[\s\S]*hexa export[\s\S]*hexa plot[\s\S]*hexa report/);
  });

  it('bad eval/export/plot/report input is one clear line and exit code 2 or 1', () => {
    const cases: Array<[string[], RegExp, number]> = [
      [['eval', 'x', '--knn-k', '0'], /^hexa: --knn-k must be an integer in \[1, 1000000\], got '0'\n$/, 2],
      [['eval', 'x', '--protocols', 'knn,svm'], /--protocols must be one of knn, linear, finetune, got 'svm'/, 2],
      [['eval', 'x', '--mean', '0.5,0.5'], /--mean must be a comma-separated list of 3 values/, 2],
      [['eval', 'x', '--mean', '0.5,0.5,0.5'], /--mean and --std go together/, 2],
      [['eval', 'x', '--bogus'], /unknown option --bogus for hexa eval/, 2],
      [['eval'], /hexa eval takes one run directory or weights file, got 0/, 2],
      [['eval', path.join(tmp, 'nope')], /\nhexa: loadBackbone: .*nope does not exist\n$/, 1],
      [['export', path.join(tmp, 'nope.safetensors')], /nope\.safetensors does not exist/, 1],
      [['plot', tmp], /not a hexa-torch run directory: it has no metrics\.jsonl/, 1],
      [['report', tmp, '--wat'], /unknown option --wat for hexa report/, 2],
    ];
    for (const [args, message, code] of cases) {
      const r = hexa(args);
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(r.status, args.join(' ')).toBe(code);
    }
  });
});

describe('ETA', () => {
  const log = (globalStep: number, elapsedSeconds: number): StepLog => ({
    type: 'step', loss: 1, accuracy: 0, lr: 0.1, epoch: Math.floor(globalStep / 10), epochStep: globalStep % 10, stepsPerEpoch: 10, globalStep, totalSteps: 30, imagesPerSecond: 1, elapsedSeconds,
  });
  it('prices the hard-view epochs by the prior until they run, then by their measured speed', () => {
    const eta = new PhaseEta(1);
    let t = 0;
    let left = 0;
    for (let s = 0; s < 10; s++) left = eta.update(log(s, (t += 1))); // plain: 1 s a step
    // End of epoch 1: 20 hard-view steps left, priced at the prior (the old ETA said 20 s).
    expect(left).toBeCloseTo(20 * HARD_VIEW_COST_PRIOR, 6);
    for (let s = 10; s < 15; s++) left = eta.update(log(s, (t += 3))); // hard: 3 s a step
    expect(left).toBeCloseTo(15 * 3, 6);
  });
  it('a run without hard views is priced at its own speed', () => {
    const eta = new PhaseEta(Infinity);
    let left = 0;
    for (let s = 0; s < 5; s++) left = eta.update(log(s, 2 * (s + 1)));
    expect(left).toBeCloseTo(25 * 2, 6);
  });
});
