// Starts LibTorch's profiler, runs an op and exits without stopping it (engine.test.ts checks
// that the exit is clean and quiet).
import { profiler, rand } from '../../lib/index.js';

await profiler.start();
const x = await rand([64, 64]);
(await x.matmul(x)).dispose();
x.dispose();
console.log(JSON.stringify({ started: true }));
