// Hammers every exported native function with random wrong arguments in a child process:
// the process must survive and every call must throw/reject a JS Error or return a valid result.
import { expect, it } from 'vitest';
import { childSummary } from './support/child-summary.js';

it.each([1, 2, 3])('survives 3000 random calls (seed %i)', (seed) => {
  const summary = childSummary('fuzz/fuzz-child.ts', [String(seed), '3000'], 300_000) as Record<string, number> & { failures: unknown[] };
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
  const summary = childSummary('fuzz/fuzz-child.ts', [String(seed), '3000', '8'], 300_000) as Record<string, number> & { failures: unknown[] };
  console.log(JSON.stringify(summary));
  expect(summary.failures).toEqual([]);
  expect(summary.bad).toBe(0);
  expect(summary.calls).toBe(3000);
  expect(summary.ok + summary.threw + summary.rejected).toBe(3000);
  expect(summary.ok).toBeGreaterThan(500); // the well-formed third mostly succeeds
});
