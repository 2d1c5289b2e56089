// What this CPU (and its OS) can execute, for choices the user should hear about: bfloat16
// autocast on a CPU without bfloat16 arithmetic runs emulated (12-14x slower than float32 on an
// AVX2-only AMD EPYC, docs/performance.md), so the trainer says so. Read with the compiler's
// own CPUID check (which also asks the OS whether it saves AVX-512/AMX state), not ATen's
// at::cpu::get_cpu_capabilities, which the oldest LibTorch this release supports lacks.
#pragma once
#include <optional>

// Where DetectCpuFeatures reads the features (GCC on x86-64: __builtin_cpu_supports); elsewhere
// it reports them unknown. The tests key on this too, so check and test agree on where.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define HEXA_CPU_FEATURES_KNOWN 1
#else
#define HEXA_CPU_FEATURES_KNOWN 0
#endif

namespace hexa::runtime {

struct CpuFeatures {
  const char* arch;  // "x86_64", "aarch64", ... (the build's target)
  // x86-64 extensions; all false on other architectures.
  bool avx2 = false;
  bool avx512f = false;
  bool avx512bf16 = false;
  bool amxBf16 = false;
  // Whether bfloat16 arithmetic is native (x86-64: AVX512-BF16 or AMX-BF16; every AMX CPU so
  // far has AVX512-BF16 too); empty where this check does not know (other architectures).
  std::optional<bool> nativeBf16;
};

// Cheap (libgcc reads CPUID once per process); safe from any thread.
CpuFeatures DetectCpuFeatures();

}  // namespace hexa::runtime
