// The fused HEXA kernels, exported as `kernels` from the package root.
// ---- hard views and the momentum encoder ----
export { pgdInit, pgdStep } from './pgd.js';
export type { PgdInitOptions, PgdNorm, PgdStepOptions } from './pgd.js';
export { cutmix, cutmixTargets, sampleCutmix } from './cutmix.js';
export type { CutmixOptions, CutmixSample, SampleCutmixOptions } from './cutmix.js';
export { enqueue } from './enqueue.js';
export { copyBuffers, momentumUpdate } from './momentum.js';
// ---- end hard views ----
// losses and clustering (kernels-k2)
export { clusterCE } from './cluster-ce.js';
export type { ClusterCEOptions, ClusterCEResult } from './cluster-ce.js';
export { infoNCE } from './info-nce.js';
export type { InfoNCEOptions, InfoNCEResult } from './info-nce.js';
export { kmeansAssign, kmeansUpdateCentroids } from './kmeans.js';
export type { KmeansAssignOptions, KmeansAssignResult, KmeansUpdateOptions, KmeansUpdateResult } from './kmeans.js';
