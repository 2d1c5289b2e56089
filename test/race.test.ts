// Ops that read an index tensor, raced against async writes of out-of-range values into that
// tensor while they are in flight (test/fuzz/race-child.ts, in a child process so a crash is
// seen): no crash, every call resolves or rejects with an Error naming the op, and an op
// started after the write always rejects. Before the kernels read private, checked copies,
// kmeans, cutmix (perm and boxes) and cluster CE segfaulted here within a few rounds.
import { expect, it } from 'vitest';
import { childSummary } from './support/child-summary.js';

it.each(['kmeans', 'cutmix-perm', 'cutmix-boxes', 'cluster-ce', 'cutmix-targets', 'knn'])(
  'survives 40 rounds of %s with its index tensor overwritten in flight',
  (scenario) => {
    const summary = childSummary('fuzz/race-child.ts', [scenario, '40', '60'], 120_000) as Record<string, number> & { failures: unknown[] };
    expect(summary.failures).toEqual([]);
    expect(summary.bad).toBe(0);
    expect(summary.rounds).toBe(40);
    // 3 calls a round; every op started after the write rejected.
    expect(summary.ok + summary.rejected).toBe(120);
    expect(summary.afterWrite).toBe(40);
  },
  180_000,
);
