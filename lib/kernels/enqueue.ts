// MoCo's key queue as a ring buffer.
import { native } from '../native.js';
import { handleOf, type Tensor } from '../tensor.js';

/**
 * Writes keys [N, C] into queue [K, C] at rows ptr, ptr+1, … wrapping modulo K (in place;
 * N <= K, K need not divide by N) and resolves to the next pointer (ptr + N) mod K.
 * RangeError for ptr outside [0, K), N > K or a C mismatch; TypeError for a dtype or device
 * mismatch (the kind of argument, as in every kernel).
 */
export async function enqueue(queue: Tensor, keys: Tensor, ptr: number): Promise<number> {
  return native().enqueue(handleOf(queue), handleOf(keys), ptr);
}
