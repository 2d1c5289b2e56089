// Opt-in test trace (HEXA_TEST_TRACE=1: vitest.config.ts then loads this as a setup file): each
// test's start and end on fd 2, written synchronously, so that a worker killed by a native abort
// still names the test it was in (scripts/gpu/check.sh runs the CUDA test files this way).
import fs from 'node:fs';
import { afterEach, beforeEach } from 'vitest';

// The describe blocks too: a CPU and a CUDA block often hold tests of the same name.
const fullName = (task: { name: string; suite?: { name: string; suite?: unknown } }) => {
  const names = [task.name];
  for (let s = task.suite as { name: string; suite?: unknown } | undefined; s?.name; s = s.suite as typeof s) names.unshift(s.name);
  return names.join(' > ');
};

beforeEach((ctx) => {
  fs.writeSync(2, `[trace] start ${ctx.task.file?.name} > ${fullName(ctx.task)}\n`);
});
afterEach((ctx) => {
  fs.writeSync(2, `[trace] end ${ctx.task.name} (${ctx.task.result?.state ?? '?'})\n`);
});
