// Run in a worker thread by test/lifetimes.test.ts: the addon in a second JS environment.
// Posts doublingSum's result and the live tensors the worker left.
import { parentPort, workerData } from 'node:worker_threads';
import { liveTensorCount } from '../../lib/index.js';
import { doublingSum } from './doubling-sum.js';

const sum = await doublingSum((workerData as { rounds: number }).rounds);
parentPort!.postMessage({ sum, live: liveTensorCount() });
