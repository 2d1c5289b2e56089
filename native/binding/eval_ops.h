// Exported evaluation functions.
#pragma once
#include <napi.h>

namespace hexa::binding {

Napi::Value KnnPredict(const Napi::CallbackInfo& info);

}  // namespace hexa::binding
