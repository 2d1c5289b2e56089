// The fused HEXA kernels, exported as `kernels.<name>`.
// losses and clustering (kernels-k2)
export { clusterCE } from './cluster-ce.js';
export type { ClusterCEOptions, ClusterCEResult } from './cluster-ce.js';
export { infoNCE } from './info-nce.js';
export type { InfoNCEOptions, InfoNCEResult } from './info-nce.js';
export { kmeansAssign, kmeansUpdateCentroids } from './kmeans.js';
export type { KmeansAssignOptions, KmeansAssignResult, KmeansUpdateOptions, KmeansUpdateResult } from './kmeans.js';
