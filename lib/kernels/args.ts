// Argument plumbing shared by the kernel wrappers.
import type { GeneratorHandle } from '../native-types.js';
import { Generator } from '../tensor.js';

/** The native handle of a Generator; anything else passes through so the binding reports what was given. */
export function generatorHandle(g: unknown): GeneratorHandle | undefined {
  return (g instanceof Generator ? g.handle : g) as GeneratorHandle | undefined;
}
