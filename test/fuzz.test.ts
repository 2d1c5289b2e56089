// Hammers every exported native function with random wrong arguments in a child process:
// the process must survive and every call must throw/reject a JS Error or return a valid result.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { expect, it } from 'vitest';

it.each([1, 2, 3])('survives 3000 random calls (seed %i)', (seed) => {
  const child = path.join(__dirname, 'fuzz', 'fuzz-child.ts');
  const r = spawnSync(process.execPath, ['--import', 'tsx', child, String(seed), '3000'], {
    encoding: 'utf8',
    timeout: 300_000,
    cwd: path.join(__dirname, '..'),
  });
  // A crash (abort, segfault) shows up as a signal or a non-zero status.
  expect(r.signal, r.stderr).toBeNull();
  expect(r.status, r.stderr).toBe(0);
  const summary = JSON.parse(r.stdout.trim().split('\n').pop()!);
  console.log(JSON.stringify(summary));
  expect(summary.failures).toEqual([]);
  expect(summary.bad).toBe(0);
  expect(summary.calls).toBe(3000);
  expect(summary.ok + summary.threw + summary.rejected).toBe(3000);
  expect(summary.threw + summary.rejected).toBeGreaterThan(1000); // mostly wrong arguments
});

// Up to 8 calls in flight, a third of them well-formed calls of the ops that read index
// tensors, on shared tensors other in-flight calls overwrite (out-of-range values, in place,
// as an output). Before the kernels read private, checked copies of their indices, every seed
// here segfaulted.
it.each([4, 5])('survives 3000 calls, 8 in flight, mutating inputs of in-flight ops (seed %i)', (seed) => {
  const child = path.join(__dirname, 'fuzz', 'fuzz-child.ts');
  const r = spawnSync(process.execPath, ['--import', 'tsx', child, String(seed), '3000', '8'], {
    encoding: 'utf8',
    timeout: 300_000,
    cwd: path.join(__dirname, '..'),
  });
  expect(r.signal, r.stderr).toBeNull();
  expect(r.status, r.stderr).toBe(0);
  const summary = JSON.parse(r.stdout.trim().split('\n').pop()!);
  console.log(JSON.stringify(summary));
  expect(summary.failures).toEqual([]);
  expect(summary.bad).toBe(0);
  expect(summary.calls).toBe(3000);
  expect(summary.ok + summary.threw + summary.rejected).toBe(3000);
  expect(summary.ok).toBeGreaterThan(500); // the well-formed third mostly succeeds
});
