// The one error boundary between C++ and JavaScript. Every exported function is wrapped by
// Guarded() (see addon.cpp) and every async op settles through RejectWith(): a C++ exception,
// c10::Error included, never crosses into Node as anything but a JS Error naming the function.
#pragma once
#include <napi.h>

#include <exception>
#include <string>

namespace hexa::binding {

enum class ErrorKind { Error, TypeError, RangeError };

// An error raised by the binding's own checks, before or after native work.
struct JsError : std::exception {
  ErrorKind kind;
  std::string message;
  JsError(ErrorKind k, std::string m) : kind(k), message(std::move(m)) {}
  const char* what() const noexcept override { return message.c_str(); }
};

[[noreturn]] inline void ThrowTypeError(std::string m) { throw JsError(ErrorKind::TypeError, std::move(m)); }
[[noreturn]] inline void ThrowRangeError(std::string m) { throw JsError(ErrorKind::RangeError, std::move(m)); }
[[noreturn]] inline void ThrowError(std::string m) { throw JsError(ErrorKind::Error, std::move(m)); }

// Turns the exception in flight into (kind, "fn: message"). Call only inside a catch block.
JsError Classify(const char* fn, std::exception_ptr ex);

// Builds the JS error object for a classified error.
Napi::Error ToJsError(Napi::Env env, const JsError& e);

// Runs body(); any exception becomes a thrown JS error named after `name`.
template <class Body>
Napi::Value Protect(const Napi::CallbackInfo& info, const char* name, Body&& body) {
  try {
    return body();
  } catch (const Napi::Error& e) {
    // Already a JS exception (a JS callback or getter threw): let it through unchanged.
    e.ThrowAsJavaScriptException();
  } catch (...) {
    ToJsError(info.Env(), Classify(name, std::current_exception())).ThrowAsJavaScriptException();
  }
  return info.Env().Undefined();
}

using Callback = Napi::Value (*)(const Napi::CallbackInfo&);

// The wrapper every exported function is registered through (addon.cpp); its JS name
// travels in the function's data pointer.
template <Callback fn>
Napi::Value Guarded(const Napi::CallbackInfo& info) {
  const char* name = static_cast<const char*>(info.Data());
  return Protect(info, name ? name : "hexa", [&] { return fn(info); });
}

}  // namespace hexa::binding
