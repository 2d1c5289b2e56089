// The training curves of a run as Vega-Lite charts, rendered headless: Vega-Lite compiles to
// Vega, Vega renders SVG (no browser, no canvas), resvg rasterises the SVG to PNG. The three
// are optional dependencies: without them `hexa plot` says what to install.
import fs from 'node:fs';
import path from 'node:path';
import { writeAtomic } from '../checkpoint/safetensors.js';
import type { LogRow, RunLog } from './run-log.js';

export interface Chart {
  /** File stem: loss, accuracy, lr, throughput, knn, clusters. */
  name: string;
  title: string;
  /** A Vega-Lite spec with its data inline. */
  spec: Record<string, unknown>;
}

/** At most `max` rows, evenly spaced, the last kept (long runs log every step). */
function thin(rows: LogRow[], max = 1500): LogRow[] {
  if (rows.length <= max) return rows;
  const every = Math.ceil(rows.length / max);
  return rows.filter((_, i) => i % every === 0 || i === rows.length - 1);
}

const base = (title: string) => ({
  $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
  title,
  width: 560,
  height: 220,
  background: 'white',
  config: { font: 'DejaVu Sans, sans-serif' },
});

function facetBase(title: string) {
  const { width: _w, height: _h, ...rest } = base(title);
  return rest;
}

function line(title: string, values: Array<Record<string, unknown>>, x: string, xTitle: string, y: string, yTitle: string, series?: string) {
  return {
    ...base(title),
    data: { values },
    mark: { type: 'line', point: values.length <= 40 },
    encoding: {
      x: { field: x, type: 'quantitative', title: xTitle, axis: { tickMinStep: 1, format: 'd' } },
      y: { field: y, type: 'quantitative', title: yTitle, scale: { zero: false } },
      ...(series ? { color: { field: series, type: 'nominal', title: null } } : {}),
    },
  };
}

/** The charts a run's log supports (kNN only when it was measured per epoch, clusters only for DeepCluster). */
export function runCharts(run: RunLog): Chart[] {
  const steps = thin(run.steps);
  const charts: Chart[] = [];
  if (steps.length) {
    const lossKeys = Object.keys(steps[0]).filter((k) => k === 'loss' || /^loss[A-Z]/.test(k));
    // A term logged as exactly 0 was not computed (hard views before hardViewStartEpoch): no point.
    const losses = steps.flatMap((r) =>
      lossKeys.filter((k) => k === 'loss' || r[k] !== 0).map((k) => ({ step: r.globalStep, term: k === 'loss' ? 'total' : k.slice(4).toLowerCase(), value: r[k] })),
    );
    charts.push({ name: 'loss', title: 'Loss: total and per term', spec: line('Loss: total and per term', losses, 'step', 'step', 'value', 'loss', 'term') });
    charts.push({ name: 'accuracy', title: 'Positive accuracy', spec: line('Positive accuracy (the positive ranks first)', steps.map((r) => ({ step: r.globalStep, accuracy: r.accuracy })), 'step', 'step', 'accuracy', 'accuracy') });
    charts.push({ name: 'lr', title: 'Learning rate', spec: line('Learning rate', steps.map((r) => ({ step: r.globalStep, lr: r.lr })), 'step', 'step', 'lr', 'learning rate') });
    charts.push({ name: 'throughput', title: 'Images per second', spec: line('Training images per second (running mean)', steps.map((r) => ({ step: r.globalStep, imagesPerSecond: r.imagesPerSecond })), 'step', 'step', 'imagesPerSecond', 'images/s') });
  }
  const knn = run.epochs.filter((e) => typeof e.knnTop1 === 'number').map((e) => ({ epoch: Number(e.epoch) + 1, top1: 100 * Number(e.knnTop1) }));
  if (knn.length) charts.push({ name: 'knn', title: 'kNN top-1 per epoch', spec: line('kNN top-1 per epoch', knn, 'epoch', 'epoch', 'top1', 'kNN top-1 (%)') });
  if (run.setups.length) {
    const stats = run.setups.flatMap((s) =>
      Object.entries(s)
        .filter(([k, v]) => k !== 'type' && k !== 'epoch' && typeof v === 'number')
        .map(([k, v]) => ({ epoch: Number(s.epoch) + 1, statistic: k, value: v })),
    );
    charts.push({
      name: 'clusters',
      title: 'Clustering at each epoch',
      spec: {
        ...facetBase('Clustering at each epoch (k-means per head)'),
        data: { values: stats },
        facet: { row: { field: 'statistic', type: 'nominal', title: null } },
        resolve: { scale: { y: 'independent' } },
        spec: {
          width: 560,
          height: 90,
          mark: { type: 'line', point: true },
          encoding: { x: { field: 'epoch', type: 'quantitative', axis: { tickMinStep: 1, format: 'd' } }, y: { field: 'value', type: 'quantitative', scale: { zero: false }, title: null } },
        },
      },
    });
  }
  return charts;
}

async function renderers() {
  try {
    const [vega, vegaLite, resvg] = await Promise.all([import('vega'), import('vega-lite'), import('@resvg/resvg-js')]);
    return { vega, vegaLite, Resvg: resvg.Resvg };
  } catch (e) {
    throw new Error(`plots need the optional dependencies vega, vega-lite and @resvg/resvg-js (npm install vega vega-lite @resvg/resvg-js): ${(e as Error).message}`);
  }
}

/** SVG of a Vega-Lite spec, rendered by Vega without a browser. */
export async function renderSvg(spec: Record<string, unknown>): Promise<string> {
  const { vega, vegaLite } = await renderers();
  const compiled = vegaLite.compile(spec as never).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** PNG of an SVG (2x), rasterised by resvg with the system fonts. */
export async function renderPng(svg: string): Promise<Buffer> {
  const { Resvg } = await renderers();
  return Buffer.from(new Resvg(svg, { fitTo: { mode: 'zoom', value: 2 }, font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } }).render().asPng());
}

/** Writes <out>/<chart>.svg and .png for every chart of the run; returns the files. */
export async function plotRun(run: RunLog, out: string): Promise<string[]> {
  const charts = runCharts(run);
  if (!charts.length) throw new Error(`${run.dir}: metrics.jsonl has no steps yet, nothing to plot`);
  fs.mkdirSync(out, { recursive: true });
  const files: string[] = [];
  for (const c of charts) {
    const svg = await renderSvg(c.spec);
    const svgFile = path.join(out, `${c.name}.svg`);
    const pngFile = path.join(out, `${c.name}.png`);
    await writeAtomic(svgFile, [svg]);
    await writeAtomic(pngFile, [await renderPng(svg)]);
    files.push(svgFile, pngFile);
  }
  return files;
}
