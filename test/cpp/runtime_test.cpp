// The runtime machinery of the core without Node: the caching CPU allocator (size classes,
// reuse of freed large blocks, the idle cap, empty-cache), the profiler's op ranges and the CPU
// feature check.
#include <ATen/ATen.h>
#include <c10/core/CPUAllocator.h>

#include <fstream>
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

// The reference is the kernel's own reading of CPUID (with the OS's XSAVE support folded in),
// the flags line of /proc/cpuinfo: names as Linux spells them.
HEXA_TEST(cpu_features, agree_with_proc_cpuinfo) {
  const runtime::CpuFeatures f = runtime::DetectCpuFeatures();
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
  std::ifstream in("/proc/cpuinfo");
  std::string line, flags;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) == 0) {
      flags = " " + line.substr(line.find(':') + 1) + " ";
      break;
    }
  }
  EXPECT(!flags.empty());  // Linux on x86-64: the file and its flags line are there
  const auto has = [&](const char* name) { return flags.find(std::string(" ") + name + " ") != std::string::npos; };
  EXPECT(std::string(f.arch) == "x86_64");
  EXPECT(f.avx2 == has("avx2"));
  EXPECT(f.avx512f == has("avx512f"));
  EXPECT(f.avx512bf16 == has("avx512_bf16"));
  EXPECT(f.amxBf16 == has("amx_bf16"));
  EXPECT(f.nativeBf16.has_value() && *f.nativeBf16 == (has("avx512_bf16") || has("amx_bf16")));
#else
  EXPECT(!f.nativeBf16.has_value());  // no check on this build: unknown, never a guessed false
#endif
}
