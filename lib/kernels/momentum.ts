// The momentum (EMA) encoder update over whole parameter lists.
import { native } from '../native.js';
import { handleOf, type Tensor } from '../tensor.js';

/** The native handles of a list; anything but an array passes through so the binding reports it (in its vocabulary). */
function handles(list: Tensor[]) {
  return (Array.isArray(list) ? list.map(handleOf) : list) as ReturnType<typeof handleOf>[];
}

/**
 * θt ← m·θt + (1 − m)·θs for every pair (target[i], source[i]), in place, m in [0, 1]
 * (m = 0 copies, m = 1 keeps). Pairs match in shape, dtype (float32/float64) and device.
 * The whole list is one parallel region on the CPU and one multi-tensor launch (per dtype,
 * per 120 tensors) on CUDA.
 */
export async function momentumUpdate(target: Tensor[], source: Tensor[], m: number): Promise<void> {
  return native().momentumUpdate(handles(target), handles(source), m);
}

/**
 * target[i] ← source[i] for every pair (any dtype). MoCo's key encoder normally keeps its
 * own BatchNorm running statistics (they come from its own forward passes), so trainers do
 * not copy buffers by default; this helper is for the option of tying them.
 */
export async function copyBuffers(target: Tensor[], source: Tensor[]): Promise<void> {
  return native().copyBuffers(handles(target), handles(source));
}
