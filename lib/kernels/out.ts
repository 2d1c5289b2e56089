// The `out` convention of the kernels: the native op returns a fresh handle to the tensor
// it wrote; when the caller passed `out`, that handle aliases out's memory, so it is
// released at once and the caller's own Tensor is returned.
import type { TensorHandle } from '../native-types.js';
import { Tensor } from '../tensor.js';

/** `out` itself when given (releasing the duplicate handle), else a new Tensor for `handle`. */
export function adoptOut(handle: TensorHandle, out: Tensor | undefined): Tensor {
  if (out instanceof Tensor) {
    handle.dispose();
    return out;
  }
  return new Tensor(handle);
}
