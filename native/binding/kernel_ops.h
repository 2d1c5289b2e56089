// Exported fused HEXA kernels (native/kernels/): validated options in, async work, Promise out.
#pragma once
#include <napi.h>

namespace hexa::binding {

// Adds every kernel function to `exports` (listed in kernel_ops.cpp, next to their wrappers).
void RegisterKernelOps(Napi::Env env, Napi::Object exports);

// Losses and clustering (kernels_losses.cpp): InfoNCE, DeepCluster cluster CE, spherical k-means.
Napi::Value InfoNCE(const Napi::CallbackInfo& info);
Napi::Value ClusterCE(const Napi::CallbackInfo& info);
Napi::Value KmeansAssign(const Napi::CallbackInfo& info);
Napi::Value KmeansUpdateCentroids(const Napi::CallbackInfo& info);

}  // namespace hexa::binding
