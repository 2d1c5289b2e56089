import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Every test file in a forked process: LibTorch's process-wide state (threads, TF32, the
    // CPU cache) starts fresh per file, and a native crash ends one file, not the run.
    pool: 'forks',
    // --expose-gc: the lifetime tests check that collected handles free their tensors.
    execArgv: ['--expose-gc'],
    // HEXA_TEST_TRACE=1: every test's start and end on stderr, synchronously (scripts/gpu/check.sh).
    // HEXA_TEST_THREADS=N: every test file at N intra-op threads (test/support/threads.ts).
    setupFiles: [
      ...(process.env.HEXA_TEST_TRACE ? ['test/support/trace.ts'] : []),
      ...(process.env.HEXA_TEST_THREADS ? ['test/support/threads.ts'] : []),
    ],
    // Two cores: one test file at a time keeps LibTorch's own threads from fighting.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 600_000,
    reporters: ['default', ['json', { outputFile: '.vitest-report.json' }]],
  },
});
