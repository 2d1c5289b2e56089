// The runtime machinery of the core without Node: the caching CPU allocator (size classes,
// reuse of freed large blocks, the idle cap, empty-cache), the profiler's op ranges and the CPU
// feature check.
#include <ATen/ATen.h>
#include <c10/core/CPUAllocator.h>

#include <cstdint>
#include <set>
#include <string>

#include "harness/harness.h"
#include "runtime/cpu_caching_allocator.h"
#include "runtime/cpu_features.h"
#include "runtime/profiler.h"

using namespace hexa;

HEXA_TEST(cpu_caching_allocator, size_classes_round_up_by_at_most_an_eighth) {
  EXPECT(runtime::CpuCacheSizeClass(1) == runtime::kMinCachedBytes);
  EXPECT(runtime::kMinCachedBytes == size_t{64} << 10);  // below glibc's first mmap/trim threshold (128 KiB)
  EXPECT(runtime::CpuCacheSizeClass((size_t{64} << 10) + 1) == (size_t{72} << 10));
  EXPECT(runtime::CpuCacheSizeClass(size_t{1} << 20) == size_t{1} << 20);
  EXPECT(runtime::CpuCacheSizeClass((size_t{1} << 20) + 1) == (size_t{1} << 20) + (size_t{1} << 17));
  for (size_t n : {size_t{3000000}, size_t{38535168}, size_t{123456789}}) {
    const size_t c = runtime::CpuCacheSizeClass(n);
    EXPECT(c >= n);
    EXPECT(c <= n + n / 8 + 1);
    EXPECT(runtime::CpuCacheSizeClass(c) == c);  // a class is its own class
  }
}

HEXA_TEST(cpu_caching_allocator, reuses_freed_large_blocks_and_respects_the_cap) {
  runtime::InstallCpuCachingAllocator();
  runtime::SetCpuCacheLimit(uint64_t{1} << 30);
  runtime::EmptyCpuCache();
  const auto s0 = runtime::GetCpuCacheStats();
  const void* first = nullptr;
  {
    at::Tensor t = at::full({1 << 20}, 3.0f);  // 4 MiB through c10's CPU allocator: ours
    first = t.data_ptr();
    EXPECT(runtime::GetCpuCacheStats().inUseBytes >= s0.inUseBytes + (4u << 20));
  }
  EXPECT(runtime::GetCpuCacheStats().cachedBytes >= (4u << 20));
  {
    at::Tensor t = at::zeros({(1 << 20) - 100});  // same size class: the same block, zeroed
    EXPECT(t.data_ptr() == first);
    EXPECT(runtime::GetCpuCacheStats().hits == s0.hits + 1);
    EXPECT(t.abs().max().item<float>() == 0.0f);
  }
  // raw_allocate / raw_deallocate, as ATen uses internally: small and large blocks alike.
  c10::Allocator* a = c10::GetCPUAllocator();
  for (size_t n : {size_t{64}, size_t{8} << 20}) {
    void* p = a->raw_allocate(n);
    EXPECT(p != nullptr);
    static_cast<char*>(p)[n - 1] = 1;
    a->raw_deallocate(p);
  }
  runtime::EmptyCpuCache();
  EXPECT(runtime::GetCpuCacheStats().cachedBytes == 0);
  runtime::SetCpuCacheLimit(0);
  { at::Tensor t = at::empty({1 << 20}); }
  EXPECT(runtime::GetCpuCacheStats().cachedBytes == 0);  // over the cap: freed, not kept
  runtime::SetCpuCacheLimit(uint64_t{1} << 30);
}

HEXA_TEST(profiler, records_nested_op_ranges) {
  at::Tensor a = at::rand({32, 32});
  runtime::StartProfiler();
  at::Tensor b = at::matmul(a, a);
  const auto ops = runtime::StopProfiler();
  std::set<std::string> names;
  for (const auto& op : ops) {
    names.insert(op.name);
    EXPECT(op.endNs >= op.startNs);
  }
  EXPECT(names.count("aten::matmul") == 1);
  EXPECT(names.count("aten::mm") == 1);
  EXPECT_THROWS_WITH(runtime::StopProfiler(), "not running");
}

// The reference: CPUID and XCR0 read here bit by bit (Intel SDM vol. 2A, CPUID leaf 7), apart
// from libgcc's __builtin_cpu_supports that the check uses: a feature counts where the CPU has
// it and the OS saves its registers (XCR0), as Linux decides its /proc/cpuinfo flags. Not
// /proc/cpuinfo itself: CI also runs these tests under QEMU's emulated Nehalem, whose CPUID is
// the emulated CPU's while /proc/cpuinfo stays the host's (test/runtime.test.ts compares
// info().cpu with /proc/cpuinfo natively).
#if HEXA_CPU_FEATURES_KNOWN
#include <cpuid.h>

namespace {
struct CpuidBits {
  bool avx2 = false, avx512f = false, avx512bf16 = false, amxBf16 = false;
};

CpuidBits ReadCpuidBits() {
  CpuidBits r;
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return r;
  const bool osxsave = c & (1u << 27), avx = c & (1u << 28);
  uint64_t xcr0 = 0;
  if (osxsave) {  // xgetbv faults where the OS has not enabled XSAVE
    unsigned lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    xcr0 = (static_cast<uint64_t>(hi) << 32) | lo;
  }
  const bool ymmSaved = (xcr0 & 0x6) == 0x6;                  // SSE + AVX state
  const bool zmmSaved = ymmSaved && (xcr0 & 0xE0) == 0xE0;     // opmask + ZMM state
  const bool tilesSaved = (xcr0 & 0x60000) == 0x60000;         // AMX TILECFG + TILEDATA
  if (__get_cpuid_max(0, nullptr) < 7) return r;
  __cpuid_count(7, 0, a, b, c, d);
  const unsigned subleaves = a;
  r.avx2 = avx && ymmSaved && (b & (1u << 5));
  r.avx512f = zmmSaved && (b & (1u << 16));
  r.amxBf16 = tilesSaved && (d & (1u << 22));
  if (subleaves >= 1) {
    __cpuid_count(7, 1, a, b, c, d);
    r.avx512bf16 = zmmSaved && (a & (1u << 5));
  }
  return r;
}
}  // namespace
#endif

HEXA_TEST(cpu_features, agree_with_cpuid_and_xcr0) {
  const runtime::CpuFeatures f = runtime::DetectCpuFeatures();
#if HEXA_CPU_FEATURES_KNOWN
  const CpuidBits ref = ReadCpuidBits();
  EXPECT(std::string(f.arch) == "x86_64");
  EXPECT(f.avx2 == ref.avx2);
  EXPECT(f.avx512f == ref.avx512f);
  EXPECT(f.avx512bf16 == ref.avx512bf16);
  EXPECT(f.amxBf16 == ref.amxBf16);
  EXPECT(f.nativeBf16.has_value() && *f.nativeBf16 == (ref.avx512bf16 || ref.amxBf16));
#else
  EXPECT(!f.nativeBf16.has_value());  // no check on this build: unknown, never a guessed false
#endif
}
