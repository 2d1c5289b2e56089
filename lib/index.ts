// hexa-torch: LibTorch for TypeScript, for self-supervised pre-training with hard examples.
export { cuda, info, manualSeed, setNumThreads } from './runtime.js';
export type { Info } from './runtime.js';
export { cat, Generator, keep, liveTensorCount, rand, randn, scope, Tensor, tensor, zeros } from './tensor.js';
export type { Device, DType, RandomOptions, TensorData, TensorOptions } from './tensor.js';
export * as kernels from './kernels/index.js';
