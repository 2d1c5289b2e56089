// `hexa report <run dir>`: one self-contained HTML page (no scripts, no external resources)
// with the run's config, the environment, the training curves (inline SVG), the evaluation
// table when `hexa eval` ran, and the timings.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeAtomic } from '../checkpoint/safetensors.js';
import type { EvalResult } from '../eval/evaluate.js';
import { packageRoot } from '../native.js';
import { info } from '../runtime.js';
import { renderSvg, runCharts } from './charts.js';
import { readRunLog, type RunLog } from './run-log.js';

const esc = (s: unknown) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const pct = (x?: number) => (x === undefined ? '' : `${(100 * x).toFixed(2)}%`);
const seconds = (s: number) => (s >= 60 ? `${Math.floor(s / 60)} min ${(s % 60).toFixed(0)} s` : `${s.toFixed(1)} s`);

function table(rows: Array<Array<unknown>>, head?: Array<unknown>): string {
  const th = head ? `<thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead>` : '';
  return `<table>${th}<tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
}

function flatten(o: Record<string, unknown>, prefix = ''): Array<[string, unknown]> {
  return Object.entries(o).flatMap(([k, v]) =>
    v && typeof v === 'object' && !Array.isArray(v) ? flatten(v as Record<string, unknown>, `${prefix}${k}.`) : [[`${prefix}${k}`, Array.isArray(v) ? v.join(', ') : v] as [string, unknown]],
  );
}

function evalSection(r: EvalResult): string {
  const nets = Object.keys(r.results);
  const cell = (a?: { top1: number; top5?: number }) => (a ? `${pct(a.top1)}${a.top5 !== undefined ? ` (top-5 ${pct(a.top5)})` : ''}` : '–');
  const rows: unknown[][] = [];
  if (nets.some((n) => r.results[n].knn)) rows.push([`kNN top-1 (k=${r.settings.knnK}, τ=${r.settings.knnTemperature})`, ...nets.map((n) => cell(r.results[n].knn))]);
  if (nets.some((n) => r.results[n].linear)) rows.push(['linear probe', ...nets.map((n) => cell(r.results[n].linear))]);
  (r.results[nets[0]]?.finetune ?? []).forEach((f, i) => rows.push([`fine-tune, ${100 * f.fraction}% labels (${f.images} images)`, ...nets.map((n) => cell(r.results[n].finetune?.[i]))]));
  return (
    `<h2 id="eval">Evaluation</h2><p>${esc(r.source)} on ${esc(r.data)}: ${r.trainImages} training images, ${r.testImages} test images, ${r.classes.length} classes ` +
    `(<code>hexa eval</code>, ${esc(r.finishedAt)}).</p>${table(rows, ['protocol', ...nets])}` +
    `<h3>Evaluation time per phase</h3>${table(Object.entries(r.timings).map(([k, v]) => [k, seconds(v)]))}`
  );
}

/** The report's HTML for a run (charts rendered to inline SVG). */
export async function reportHtml(run: RunLog): Promise<string> {
  const charts = runCharts(run);
  const svgs = await Promise.all(charts.map(async (c) => ({ ...c, svg: await renderSvg(c.spec) })));
  const i = info();
  const pkg = JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version: string };
  const last = run.steps.at(-1);
  const knn = run.epochs.filter((e) => typeof e.knnTop1 === 'number').at(-1);
  const c = run.config;
  const summary: unknown[][] = [
    ['method', c.method ?? '?'],
    ['data', `${c.data ?? '?'}${c.trainSubset ? ` (first ${c.trainSubset} images)` : ''}`],
    ['network', `${c.arch ?? '?'} width ${c.width ?? '?'}`],
    ['steps logged', last ? `${Number(last.globalStep) + 1} of ${last.totalSteps}` : 'none'],
    ['training time', last ? seconds(Number(last.elapsedSeconds)) : '–'],
    ['final loss', last ? Number(last.loss).toFixed(4) : '–'],
  ];
  if (knn) summary.push([`kNN top-1 after epoch ${Number(knn.epoch) + 1}`, pct(Number(knn.knnTop1))]);
  const trained = run.eval?.results.trained;
  if (trained?.knn) summary.push(['kNN top-1 (hexa eval)', pct(trained.knn.top1)]);
  if (trained?.linear) summary.push(['linear probe top-1 (hexa eval)', pct(trained.linear.top1)]);
  const epochTimes = run.epochs.map((e, k) => [
    `epoch ${Number(e.epoch) + 1}`,
    seconds(Number(e.elapsedSeconds) - (k > 0 ? Number(run.epochs[k - 1].elapsedSeconds) : 0)),
    Number(e.meanLoss).toFixed(4),
    typeof e.knnTop1 === 'number' ? pct(e.knnTop1) : '–',
  ]);
  const env: unknown[][] = [
    ['hexa-torch', pkg.version],
    ['LibTorch', `${i.libtorch.version} (${i.variant})`],
    ['Node.js', process.version],
    ['platform', `${os.platform()} ${os.arch()}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'})`],
    ['threads', i.threads],
    ['devices', i.devices.map((d) => d.name ?? d.device).join(', ')],
  ];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>hexa-torch run ${esc(path.basename(path.resolve(run.dir)))}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:'DejaVu Sans',system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}figure{margin:1em 0}figure svg{max-width:100%;height:auto}code{background:#f3f3f3;padding:0 .2em}
</style></head><body>
<h1>hexa-torch run <code>${esc(run.dir)}</code></h1>
<h2 id="summary">Summary</h2>${table(summary)}
<h2 id="curves">Training curves</h2>
${svgs.map((s) => `<figure id="chart-${s.name}" class="chart"><figcaption>${esc(s.title)}</figcaption>${s.svg}</figure>`).join('\n') || '<p>No steps logged yet.</p>'}
<h2 id="timings">Timings</h2>${epochTimes.length ? table(epochTimes, ['epoch', 'time', 'mean loss', 'kNN top-1']) : '<p>No epoch finished yet.</p>'}
${run.eval ? evalSection(run.eval) : '<h2 id="eval">Evaluation</h2><p>Not evaluated yet: <code>hexa eval ' + esc(run.dir) + '</code> writes eval/eval.json, which this page then shows.</p>'}
<h2 id="config">Config</h2>${table(flatten(c))}
<h2 id="environment">Environment</h2><p>Of the machine that wrote this report (the run does not record its own).</p>${table(env)}
<p><small>Written by hexa report, ${esc(new Date().toISOString())}.</small></p>
</body></html>
`;
}

/** Writes the report (default <run dir>/report.html) atomically; returns its path. */
export async function writeReport(dir: string, out = path.join(dir, 'report.html')): Promise<string> {
  await writeAtomic(out, [await reportHtml(readRunLog(dir))]);
  return out;
}
