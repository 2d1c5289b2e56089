// DeepCluster's per-epoch clustering as exported functions (native/train/clustering.h):
// what the trainer runs each epoch, callable on its own for tests and analysis.
#pragma once
#include <napi.h>

namespace hexa::binding {

Napi::Value SphericalKmeans(const Napi::CallbackInfo& info);
Napi::Value NormalizedMutualInformation(const Napi::CallbackInfo& info);

}  // namespace hexa::binding
