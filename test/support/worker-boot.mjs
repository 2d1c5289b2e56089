// Worker entry for test/lifetimes.test.ts: registers tsx's loader in this thread, then runs
// the TypeScript worker (Node 20 workers do not inherit the main thread's loaders).
import { register } from 'tsx/esm/api';

register();
await import('./worker-ops.ts');
