// A caching allocator for large CPU tensors, registered as c10's CPU allocator.
//
// Why: glibc serves blocks above its mmap threshold (at most 32 MiB, and any block a non-main
// thread's arena cannot hold) with a fresh mmap, and returns them with munmap on free. Every
// large tensor of a training step is then page-faulted in (and zeroed by the kernel) again on
// each allocation: out-of-place CutMix at 64x3x224x224 spent 3/4 of its time there. This
// allocator keeps freed blocks from kMinCachedBytes up, rounded to size classes, and hands them
// out again, so a training loop that allocates the same shapes every step touches resident
// memory only. Smaller blocks go to c10's own allocator as before. A cap bounds what is kept
// idle; EmptyCache() gives it all back.
//
// Why the floor is 64 KiB and not 1 MiB (as until 2026-12-01): glibc's mmap and trim thresholds
// start at 128 KiB and only grow when glibc sees a large mmapped block freed, which never
// happens once this cache keeps the large ones. So every tensor between 128 KiB and the floor
// (a ResNet's deeper activations and their gradients) was mmapped and unmapped, or trimmed off
// the arena's top, again on every step: a HEXA_MoCo step at batch 64, width 16 took ~4,900 page
// faults (18 MB faulted in and zeroed); with the 64 KiB floor about 40, and the step ran 15-20%
// faster (docs/performance.md, "The allocator's floor").
//
// HEXA_TORCH_NO_CPU_CACHING=1 (as PyTorch's PYTORCH_NO_CUDA_MEMORY_CACHING=1 for CUDA) leaves
// c10's own allocator in place: for telling a memory fault of the allocator from one elsewhere.
#pragma once
#include <cstddef>
#include <cstdint>

namespace hexa::runtime {

struct CpuCacheStats {
  bool enabled = false;         // installed (not turned off by HEXA_TORCH_NO_CPU_CACHING=1)
  uint64_t cachedBytes = 0;     // idle in the cache
  uint64_t inUseBytes = 0;      // handed out by the cache (blocks of kMinCachedBytes and more)
  uint64_t limitBytes = 0;      // most bytes kept idle
  uint64_t hits = 0;            // such allocations served from the cache
  uint64_t misses = 0;          // such allocations that needed fresh memory
};

inline constexpr size_t kMinCachedBytes = size_t{64} << 10;

// Registers the allocator with c10 (idempotent) unless HEXA_TORCH_NO_CPU_CACHING is 1, read at
// the first call. Tensors allocated before keep their deleter.
void InstallCpuCachingAllocator();
// Frees every idle cached block.
void EmptyCpuCache();
// Most idle bytes kept; lowering it below what is idle frees every idle block.
void SetCpuCacheLimit(uint64_t bytes);
CpuCacheStats GetCpuCacheStats();
// The size class a large request is served from: rounded up to 1/8 of its power of two
// (at most 12.5% over), so similar sizes share blocks. Exposed for tests.
size_t CpuCacheSizeClass(size_t bytes);

}  // namespace hexa::runtime
