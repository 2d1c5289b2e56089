// Sum over i < rounds of 2i with one awaited tensor op per i, every tensor freed: what
// test/lifetimes.test.ts runs in the main thread and in worker threads at the same time.
import { tensor } from '../../lib/index.js';

export async function doublingSum(rounds: number): Promise<number> {
  let sum = 0;
  for (let i = 0; i < rounds; i++) {
    const a = tensor(new Float32Array([i, 1]), [2]);
    const b = await a.add(a);
    sum += Number((await b.data())[0]);
    a.dispose();
    b.dispose();
  }
  return sum;
}
