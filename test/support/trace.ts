// Opt-in test trace (vitest --setupFiles=test/support/trace.ts): each test's start and end on
// fd 2, written synchronously, so that a worker killed by a native abort still names the test
// it was in (scripts/gpu/check.sh runs the CUDA test files this way).
import fs from 'node:fs';
import { afterEach, beforeEach } from 'vitest';

beforeEach((ctx) => {
  fs.writeSync(2, `[trace] start ${ctx.task.file?.name} > ${ctx.task.name}\n`);
});
afterEach((ctx) => {
  fs.writeSync(2, `[trace] end ${ctx.task.name} (${ctx.task.result?.state ?? '?'})\n`);
});
