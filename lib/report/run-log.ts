// A training run's record as plots and reports read it: config.json and metrics.jsonl (one
// JSON object per line: 'step', 'epoch', 'epoch-setup'), plus eval/eval.json when `hexa eval`
// ran. A line cut short by a crash (the last one) is skipped, anything else malformed is an error.
import fs from 'node:fs';
import path from 'node:path';
import type { EvalResult } from '../eval/evaluate.js';

export type LogRow = Record<string, number | string> & { type: string };

export interface RunLog {
  dir: string;
  config: Record<string, unknown>;
  steps: LogRow[];
  epochs: LogRow[];
  /** DeepCluster's per-epoch clustering statistics (k-means per head). */
  setups: LogRow[];
  eval: EvalResult | null;
}

export function readRunLog(dir: string): RunLog {
  const metrics = path.join(dir, 'metrics.jsonl');
  if (!fs.existsSync(metrics)) throw new Error(`${dir} is not a hexa-torch run directory: it has no metrics.jsonl`);
  let config: Record<string, unknown> = {};
  const configFile = path.join(dir, 'config.json');
  if (fs.existsSync(configFile)) {
    try {
      config = JSON.parse(fs.readFileSync(configFile, 'utf8'));
    } catch (e) {
      throw new Error(`${configFile} is not valid JSON: ${(e as Error).message}`);
    }
  }
  const lines = fs.readFileSync(metrics, 'utf8').split('\n');
  const rows: LogRow[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      const row = JSON.parse(line);
      if (row && typeof row === 'object' && typeof row.type === 'string') rows.push(row);
    } catch (e) {
      const last = lines.slice(i + 1).every((l) => l.trim() === '');
      if (!last) throw new Error(`${metrics}:${i + 1} is not valid JSON: ${(e as Error).message}`);
    }
  });
  const evalFile = path.join(dir, 'eval', 'eval.json');
  let evalResult: EvalResult | null = null;
  if (fs.existsSync(evalFile)) evalResult = JSON.parse(fs.readFileSync(evalFile, 'utf8')) as EvalResult;
  return {
    dir,
    config,
    steps: rows.filter((r) => r.type === 'step'),
    epochs: rows.filter((r) => r.type === 'epoch'),
    setups: rows.filter((r) => r.type === 'epoch-setup'),
    eval: evalResult,
  };
}
