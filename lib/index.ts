// hexa-torch: LibTorch for TypeScript, for self-supervised pre-training with hard examples.
export { cuda, info, manualSeed, setNumThreads } from './runtime.js';
export type { Info } from './runtime.js';
export { cat, Generator, keep, liveTensorCount, rand, randn, scope, Tensor, tensor, zeros } from './tensor.js';
export type { Device, DType, RandomOptions, TensorData, TensorOptions } from './tensor.js';
export * as data from './data/index.js';
export * as kernels from './kernels/index.js';
export * as augment from './augment/index.js';
export { datasetFeatures, knnAccuracy, knnPredict, pixelFeatures } from './eval/knn.js';
export { loadSafetensors, saveSafetensors } from './checkpoint/safetensors.js';
export { DEFAULTS, EMBEDDED_DEFAULT, resolveConfig } from './train/config.js';
export type { TrainConfig } from './train/config.js';
export { exportBackbone, MocoModel, train } from './train/moco.js';
export type { EpochLog, StepLog, TrainHooks, TrainResult } from './train/moco.js';
