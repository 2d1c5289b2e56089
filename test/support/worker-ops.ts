// Run in a worker thread by test/lifetimes.test.ts: the addon in a second JS environment.
// Computes sum over i of 2i with one tensor op per i (each awaited), posts it, and reports
// the live tensors it left.
import { parentPort, workerData } from 'node:worker_threads';
import { liveTensorCount, tensor } from '../../lib/index.js';

let sum = 0;
for (let i = 0; i < (workerData as { rounds: number }).rounds; i++) {
  const a = tensor(new Float32Array([i, 1]), [2]);
  const b = await a.add(a);
  sum += Number((await b.data())[0]);
  a.dispose();
  b.dispose();
}
parentPort!.postMessage({ sum, live: liveTensorCount() });
