// `hexa plot <run dir>` (training curves as SVG and PNG) and `hexa report <run dir>` (one
// self-contained HTML page), flags from their tables.
import path from 'node:path';
import { plotRun } from '../report/charts.js';
import { writeReport } from '../report/report.js';
import { readRunLog } from '../report/run-log.js';
import { flagHelp, parseTable, text, type Flag, UsageError } from './flag-table.js';

export const PLOT_FLAGS: Flag[] = [{ name: 'out', doc: 'folder for the .svg and .png files', shown: '<run dir>/plots', parse: text }];
export const REPORT_FLAGS: Flag[] = [{ name: 'out', doc: 'the HTML file to write', shown: '<run dir>/report.html', parse: text }];

export const PLOT_USAGE = `usage: hexa plot <run dir> [flags]
Draws the run's curves from metrics.jsonl (Vega-Lite, rendered headless): loss in total and per
term, positive accuracy, learning rate, images/s, kNN per epoch, DeepCluster's clustering
statistics; each as SVG and PNG.
flags:
${flagHelp(PLOT_FLAGS)}`;

export const REPORT_USAGE = `usage: hexa report <run dir> [flags]
Writes one self-contained HTML page: summary, training curves, timings, the evaluation table
(when hexa eval ran), the config and the environment.
flags:
${flagHelp(REPORT_FLAGS)}`;

function runDirOf(positional: string[], command: string): string {
  if (positional.length !== 1) throw new UsageError(`hexa ${command} takes one run directory, got ${positional.length} (see hexa ${command} --help)`);
  return positional[0];
}

export async function runPlot(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(PLOT_USAGE + '\n');
    return 0;
  }
  const { positional, values } = parseTable(argv, PLOT_FLAGS, 'plot');
  const dir = runDirOf(positional, 'plot');
  const files = await plotRun(readRunLog(dir), (values.out as string | undefined) ?? path.join(dir, 'plots'));
  process.stdout.write(files.join('\n') + '\n');
  return 0;
}

export async function runReport(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(REPORT_USAGE + '\n');
    return 0;
  }
  const { positional, values } = parseTable(argv, REPORT_FLAGS, 'report');
  const dir = runDirOf(positional, 'report');
  process.stdout.write((await writeReport(dir, values.out as string | undefined)) + '\n');
  return 0;
}
