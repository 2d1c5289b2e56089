// Exported fused HEXA kernels (native/kernels/): validated options in, async work, Promise out.
#pragma once
#include <napi.h>

namespace hexa::binding {

// The wrappers are registered in addon.cpp with the other exports; their argument checks use
// the vocabulary of args.h (TensorArg).

// ---- hard views and the momentum encoder (kernels_hard_views.cpp) ----
Napi::Value PgdStep(const Napi::CallbackInfo& info);
Napi::Value PgdInit(const Napi::CallbackInfo& info);
Napi::Value SampleCutmix(const Napi::CallbackInfo& info);
Napi::Value Cutmix(const Napi::CallbackInfo& info);
Napi::Value CutmixTargets(const Napi::CallbackInfo& info);
Napi::Value Enqueue(const Napi::CallbackInfo& info);
Napi::Value MomentumUpdate(const Napi::CallbackInfo& info);
Napi::Value CopyBuffers(const Napi::CallbackInfo& info);
// ---- end hard views ----
// Losses and clustering (kernels_losses.cpp): InfoNCE, DeepCluster cluster CE, spherical k-means.
Napi::Value InfoNCE(const Napi::CallbackInfo& info);
Napi::Value ClusterCE(const Napi::CallbackInfo& info);
Napi::Value KmeansAssign(const Napi::CallbackInfo& info);
Napi::Value KmeansUpdateCentroids(const Napi::CallbackInfo& info);

}  // namespace hexa::binding
