// The momentum (EMA) encoder update over whole parameter lists.
import { native } from '../native.js';
import { handleOf, type Tensor } from '../tensor.js';

function handles(name: string, list: Tensor[]) {
  if (!Array.isArray(list)) throw new TypeError(`${name} must be an array of Tensors, got ${typeof list}`);
  return list.map(handleOf);
}

/**
 * θt ← m·θt + (1 − m)·θs for every pair (target[i], source[i]), in place, m in [0, 1]
 * (m = 0 copies, m = 1 keeps). Pairs match in shape, dtype (float32/float64) and device.
 * The whole list is one parallel region on the CPU and one multi-tensor launch (per dtype,
 * per 120 tensors) on CUDA.
 */
export function momentumUpdate(target: Tensor[], source: Tensor[], m: number): Promise<void> {
  return native().momentumUpdate(handles('momentumUpdate: target', target), handles('momentumUpdate: source', source), m);
}

/**
 * target[i] ← source[i] for every pair (any dtype). MoCo's key encoder normally keeps its
 * own BatchNorm running statistics (they come from its own forward passes), so trainers do
 * not copy buffers by default; this helper is for the option of tying them.
 */
export function copyBuffers(target: Tensor[], source: Tensor[]): Promise<void> {
  return native().copyBuffers(handles('copyBuffers: target', target), handles('copyBuffers: source', source));
}
