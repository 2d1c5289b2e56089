// Child of test/engine.test.ts: the CPU caching allocator as this process's environment left it
// (HEXA_TORCH_NO_CPU_CACHING is read when the addon loads). Frees a large tensor, allocates one
// of the same size, checks its contents, and prints the counters and how far they moved.
import { cpu, rand, zeros } from '../../lib/index.js';

const before = cpu.cacheStats();
const first = await rand([1 << 20]);  // 4 MiB: above the cache's 64 KiB floor
first.dispose();
const second = await zeros([1 << 20]);
const after = cpu.cacheStats();
const allZero = (await second.data()).every((v) => v === 0);
second.dispose();
console.log(JSON.stringify({ ...after, newHits: after.hits - before.hits, newMisses: after.misses - before.misses, allZero }));
