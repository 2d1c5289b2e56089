// Ops that read an index tensor, raced against async writes of out-of-range values into that
// tensor while they are in flight (test/fuzz/race-child.ts, in a child process so a crash is
// seen): no crash, every call resolves or rejects with an Error naming the op, and an op
// started after the write always rejects. Before the kernels read private, checked copies,
// kmeans, cutmix (perm and boxes) and cluster CE segfaulted here within a few rounds.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { expect, it } from 'vitest';

it.each(['kmeans', 'cutmix-perm', 'cutmix-boxes', 'cluster-ce', 'cutmix-targets', 'knn'])(
  'survives 40 rounds of %s with its index tensor overwritten in flight',
  (scenario) => {
    const child = path.join(__dirname, 'fuzz', 'race-child.ts');
    const r = spawnSync(process.execPath, ['--import', 'tsx', child, scenario, '40', '60'], {
      encoding: 'utf8',
      timeout: 120_000,
      cwd: path.join(__dirname, '..'),
    });
    // A crash (segfault, abort) shows up as a signal or a non-zero status.
    expect(r.signal, r.stderr).toBeNull();
    expect(r.status, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(summary.failures).toEqual([]);
    expect(summary.bad).toBe(0);
    expect(summary.rounds).toBe(40);
    // 3 calls a round; every op started after the write rejected.
    expect(summary.ok + summary.rejected).toBe(120);
    expect(summary.afterWrite).toBe(40);
  },
  180_000,
);
