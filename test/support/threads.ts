// Opt-in intra-op thread count for the JS suite (HEXA_TEST_THREADS=N: vitest.config.ts then
// loads this as a setup file in every test file's process), as test/cpp/harness/main.cpp does for
// the C++ tests. LibTorch caps OMP_NUM_THREADS at the machine's cores, so only this runs the
// suite at a larger machine's count (where kernels split their work differently) on a small one.
import { setNumThreads } from '../../lib/index.js';

setNumThreads(Number(process.env.HEXA_TEST_THREADS));  // not a positive integer: setNumThreads says so
