// Exported tensor functions: creation, transfer and the handful of ops the trainers need.
#pragma once
#include <napi.h>

namespace hexa::binding {

Napi::Value FromTypedArray(const Napi::CallbackInfo& info);
Napi::Value Zeros(const Napi::CallbackInfo& info);
Napi::Value Rand(const Napi::CallbackInfo& info);
Napi::Value Randn(const Napi::CallbackInfo& info);
Napi::Value Data(const Napi::CallbackInfo& info);
Napi::Value To(const Napi::CallbackInfo& info);
Napi::Value Matmul(const Napi::CallbackInfo& info);
Napi::Value Add(const Napi::CallbackInfo& info);
Napi::Value Sub(const Napi::CallbackInfo& info);
Napi::Value Mul(const Napi::CallbackInfo& info);
Napi::Value Sum(const Napi::CallbackInfo& info);
Napi::Value Mean(const Napi::CallbackInfo& info);
Napi::Value Argmax(const Napi::CallbackInfo& info);
Napi::Value Cat(const Napi::CallbackInfo& info);
Napi::Value IndexSelect(const Napi::CallbackInfo& info);
Napi::Value Reshape(const Napi::CallbackInfo& info);
Napi::Value Clone(const Napi::CallbackInfo& info);
Napi::Value Sign(const Napi::CallbackInfo& info);
Napi::Value Clamp(const Napi::CallbackInfo& info);
Napi::Value Normalize(const Napi::CallbackInfo& info);

}  // namespace hexa::binding
