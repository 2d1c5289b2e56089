// Exported fused HEXA kernels (native/kernels/): validated options in, async work, Promise out.
#pragma once
#include <napi.h>

namespace hexa::binding {

// Adds every kernel function to `exports` (listed in kernel_ops.cpp, next to their wrappers).
void RegisterKernelOps(Napi::Env env, Napi::Object exports);

}  // namespace hexa::binding
