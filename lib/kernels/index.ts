// The fused HEXA kernels, exported as `kernels` from the package root.
// ---- hard views and the momentum encoder ----
export { pgdInit, pgdStep } from './pgd.js';
export type { PgdInitOptions, PgdNorm, PgdStepOptions } from './pgd.js';
export { cutmix, cutmixTargets, sampleCutmix } from './cutmix.js';
export type { CutmixOptions, CutmixSample, SampleCutmixOptions } from './cutmix.js';
export { enqueue } from './enqueue.js';
export { copyBuffers, momentumUpdate } from './momentum.js';
// ---- end hard views ----
