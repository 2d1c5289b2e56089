// Runs a test child script (under tsx) that prints a JSON summary as its last line, and checks
// that it survived: a crash (segfault, abort) shows up as a signal or a non-zero status.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { expect } from 'vitest';

/** The child's summary and what it wrote to stderr. */
export function childRun(script: string, args: string[], timeout: number, env: Record<string, string> = {}): { summary: Record<string, unknown>; stderr: string } {
  const root = path.join(__dirname, '..', '..');
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'test', script), ...args],
    { encoding: 'utf8', timeout, cwd: root, env: { ...process.env, ...env } });
  expect(r.signal, r.stderr).toBeNull();
  expect(r.status, r.stderr).toBe(0);
  return { summary: JSON.parse(r.stdout.trim().split('\n').pop()!), stderr: r.stderr };
}

export function childSummary(script: string, args: string[], timeout: number, env: Record<string, string> = {}): Record<string, unknown> {
  return childRun(script, args, timeout, env).summary;
}
