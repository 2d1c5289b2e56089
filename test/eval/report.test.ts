// `hexa plot` and `hexa report` on a real (tiny) run, and the report in a real headless
// browser: Debian's chromium driven by playwright-core (installed by .ci/run; skipped with the
// reason where it is not).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluate, resolveConfig, train } from '../../lib/index.js';
import { plotRun, runCharts } from '../../lib/report/charts.js';
import { reportHtml, writeReport } from '../../lib/report/report.js';
import { readRunLog } from '../../lib/report/run-log.js';
import { writeSyntheticMnist } from './synthetic-mnist.js';

const CHROMIUM = '/usr/bin/chromium';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hexa-report-'));
const run = path.join(dir, 'run');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

beforeAll(async () => {
  const data = writeSyntheticMnist(path.join(dir, 'mnist'), 64, 32);
  await train(resolveConfig({ method: 'hexa-moco', data, width: 4, epochs: 2, batchSize: 16, moco: { queueSize: 32 }, knnEvery: 1, hardViewStartEpoch: 1, out: run, seed: 2 }));
  await evaluate(run, { fineTuneSteps: 2, fineTuneBatchSize: 8, fractions: [0.25], linear: { epochs: 3, sweepEpochs: 1, lrs: [0.1], weightDecays: [0] } });
}, 240_000);

describe('plots', () => {
  it('hexa plot writes SVG and PNG for loss, accuracy, lr, images/s and kNN per epoch', async () => {
    const files = await plotRun(readRunLog(run), path.join(dir, 'plots'));
    expect(files.map((f) => path.basename(f)).sort()).toEqual(
      ['accuracy', 'knn', 'loss', 'lr', 'throughput'].flatMap((n) => [`${n}.png`, `${n}.svg`]).sort(),
    );
    for (const f of files) {
      const bytes = fs.readFileSync(f);
      if (f.endsWith('.png')) expect(bytes.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
      else expect(bytes.toString('utf8')).toMatch(/^<svg[\s\S]*class="mark-line role-mark[\s\S]*<\/svg>$/);
    }
    // Per-term losses: clean, adv and mix appear (the hard views from epoch 2), plus the total.
    expect(fs.readFileSync(path.join(dir, 'plots', 'loss.svg'), 'utf8')).toMatch(/adv[\s\S]*clean[\s\S]*mix[\s\S]*total/);
  }, 60_000);

  it("DeepCluster runs get a chart of the clustering statistics", () => {
    const log = { dir: 'x', config: {}, steps: [], epochs: [], eval: null, setups: [0, 1].map((e) => ({ type: 'epoch-setup', epoch: e, 'kmeans0.nmiPrevious': 0.5 + e / 10, 'kmeans0.reseeded': e })) };
    const charts = runCharts(log);
    expect(charts.map((c) => c.name)).toEqual(['clusters']);
    expect(JSON.stringify(charts[0].spec)).toContain('kmeans0.nmiPrevious');
  });

  it('a run without metrics.jsonl is a clear error', async () => {
    expect(() => readRunLog(dir)).toThrow(/not a hexa-torch run directory: it has no metrics.jsonl/);
  });
});

describe('report', () => {
  it('is one self-contained HTML page with the curves, the eval table, timings, config and environment', async () => {
    const html = await reportHtml(readRunLog(run));
    expect(html).not.toMatch(/<script|<link|src=|https?:\/\/(?!www\.w3\.org)/);
    for (const id of ['summary', 'curves', 'timings', 'eval', 'config', 'environment']) expect(html).toContain(`id="${id}"`);
    expect((html.match(/<svg/g) ?? []).length).toBe(5);
    const evalJson = JSON.parse(fs.readFileSync(path.join(run, 'eval', 'eval.json'), 'utf8'));
    expect(html).toContain(`${(100 * evalJson.results.trained.linear.top1).toFixed(2)}%`);
  }, 60_000);

  const hasChromium = fs.existsSync(CHROMIUM);
  it.skipIf(!hasChromium)(`loads in headless chromium without console errors and shows the plots and the run's numbers${hasChromium ? '' : ` (skipped: no ${CHROMIUM}; .ci/run installs Debian's chromium)`}`, async () => {
    const file = await writeReport(run);
    const { chromium } = await import('playwright-core');
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'hexa-chromium-'));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await context.newPage();
      const problems: string[] = [];
      page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
      page.on('pageerror', (e) => problems.push(e.message));
      page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
      await page.goto(`file://${file}`, { waitUntil: 'load' });
      expect(problems).toEqual([]);
      for (const name of ['loss', 'accuracy', 'lr', 'throughput', 'knn']) {
        const svg = page.locator(`#chart-${name} svg`);
        await expect(svg.isVisible()).resolves.toBe(true);
        const box = await svg.boundingBox();
        expect(box!.width).toBeGreaterThan(300);
        expect(await page.locator(`#chart-${name} svg path`).count()).toBeGreaterThan(3);
      }
      const text = await page.locator('body').innerText();
      const log = readRunLog(run);
      const evalJson = log.eval!;
      expect(text).toContain(`${(100 * evalJson.results.trained.linear!.top1).toFixed(2)}%`);
      expect(text).toContain(`${(100 * evalJson.results['raw pixels'].knn!.top1).toFixed(2)}%`);
      expect(text).toContain(Number(log.steps.at(-1)!.loss).toFixed(4));
      expect(text).toContain(`kNN top-1 after epoch 2`);
    } finally {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    }
  }, 120_000);
});
