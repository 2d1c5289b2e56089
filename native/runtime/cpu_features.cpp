#include "runtime/cpu_features.h"

namespace hexa::runtime {

CpuFeatures DetectCpuFeatures() {
  CpuFeatures f;
#if HEXA_CPU_FEATURES_KNOWN
  f.arch = "x86_64";
  __builtin_cpu_init();
  f.avx2 = __builtin_cpu_supports("avx2");
  f.avx512f = __builtin_cpu_supports("avx512f");
  f.avx512bf16 = __builtin_cpu_supports("avx512bf16");
  f.amxBf16 = __builtin_cpu_supports("amx-bf16");
  f.nativeBf16 = f.avx512bf16 || f.amxBf16;
#elif defined(__x86_64__)
  f.arch = "x86_64";  // another compiler: features unknown, all reported false
#elif defined(__aarch64__)
  f.arch = "aarch64";
#else
  f.arch = "other";
#endif
  return f;
}

}  // namespace hexa::runtime
